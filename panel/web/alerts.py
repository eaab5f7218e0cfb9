"""Storage alerts for every audience: the list and inbox, one alert with its history and
what became of each notification, acknowledging it, and the acknowledge link of a mail.

Alerts and notifications are read through the scope only; the acknowledge link is the one
page used without logging in, and its signed token names the alert and the party.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    has_request_context,
    make_response,
    redirect,
    render_template,
    url_for,
)
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import case, func
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from panel.extensions import db
from panel.models import Alert, AlertStatus, Notification, Package, Party
from panel.models.base import utcnow
from panel.services import alert_actions, alerts, messages, notifications
from panel.services.errors import ServiceError
from panel.services.scope import scoped
from panel.web.common import (
    PageResult,
    actor,
    current_actor,
    handle_action,
    package_page,
    scoped_or_404,
)
from panel.web.forms import ConfirmForm

bp = Blueprint("alerts", __name__)

RESOLVED_SHOWN = timedelta(days=30)
LIST_LIMIT = 500
# most urgent first
LEVEL_ORDER = case({"critical": 0, "warning": 1, "notice": 2}, value=Alert.level, else_=3)


@bp.app_template_global()
def alert_subject(alert: Alert) -> str:
    """What the alert is about, in words: a mailbox or the package."""
    return messages.subject_words(alert)


@bp.app_template_global()
def alert_title(alert: Alert) -> str:
    """The alert in one sentence, as its notifications say it."""
    return messages.title(alert)


@bp.app_template_global()
def alert_forecast(alert: Alert) -> str:
    """The forecast in words (full in about N days) while not full yet; else empty."""
    if alert.percent >= 100:
        return ""
    return messages.forecast_words(alert.hours_to_full)


@bp.app_template_global()
def package_alerts(package: Package) -> list[Alert]:
    """The package's alerts that are not resolved, as the current actor may see them."""
    return list(
        db.session.scalars(
            scoped(Alert, actor())
            .where(Alert.package_id == package.id, Alert.status != AlertStatus.RESOLVED)
            .order_by(LEVEL_ORDER, Alert.opened_at.desc())
        )
    )


def _open_alert_count() -> int:
    """Open (unacknowledged) alerts the actor may see: one COUNT, once per request."""
    if "open_alert_count" not in g:
        found = current_actor()
        g.open_alert_count = (
            0
            if found is None
            else db.session.scalar(
                scoped(Alert, found)
                .where(Alert.status == AlertStatus.OPEN)
                .with_only_columns(func.count(Alert.id))
            )
            or 0
        )
    return int(g.open_alert_count)


@bp.app_context_processor
def inject_alert_count() -> dict[str, Any]:
    """The navigation's alert count; counted only when the layout asks for it."""
    if not has_request_context():
        return {}
    return {"open_alert_count": _open_alert_count}


def _may_acknowledge(alert: Alert) -> bool:
    party_id = actor().party_id
    return alert.status == AlertStatus.OPEN and any(
        a.party_id == party_id for a in alert.package.assignments
    )


# --- the list and the inbox ---------------------------------------------------------------------


@bp.get("/alerts")
@login_required
def alert_list() -> str:
    me = actor()
    with_package = selectinload(Alert.package)
    with_acknowledger = selectinload(Alert.acknowledged_by_party)
    active = db.session.scalars(
        scoped(Alert, me)
        .where(Alert.status != AlertStatus.RESOLVED)
        .options(with_package, with_acknowledger)
        .order_by(LEVEL_ORDER, Alert.opened_at.desc(), Alert.id.desc())
        .limit(LIST_LIMIT)
    ).all()
    resolved = db.session.scalars(
        scoped(Alert, me)
        .where(Alert.status == AlertStatus.RESOLVED, Alert.resolved_at >= utcnow() - RESOLVED_SHOWN)
        .options(with_package)
        .order_by(Alert.resolved_at.desc(), Alert.id.desc())
        .limit(LIST_LIMIT)
    ).all()
    inbox = notifications.inbox(me.party_id)
    # the alerts the inbox speaks of, as far as the actor still sees them (one query)
    wanted = {n.alert_id for n in inbox if n.alert_id is not None}
    visible = {
        alert.id: alert
        for alert in db.session.scalars(
            scoped(Alert, me).where(Alert.id.in_(wanted)).options(with_package)
        )
    }
    return render_template(
        "alerts/list.html",
        active=active,
        resolved=resolved,
        inbox=inbox,
        inbox_alerts=visible,
        package_page=package_page,
    )


# --- one alert ---------------------------------------------------------------------------------


@bp.get("/alerts/<int:alert_id>")
@login_required
def alert_detail(alert_id: int) -> str:
    alert = scoped_or_404(Alert, alert_id)
    me = actor()
    shown = db.session.scalars(
        scoped(Notification, me)
        .where(Notification.alert_id == alert.id)
        .options(selectinload(Notification.party))
        .order_by(Notification.id)
    ).all()
    named = {e.party_id for e in alert.events} | {alert.acknowledged_by_party_id}
    parties = db.session.scalars(scoped(Party, me).where(Party.id.in_(named - {None})))
    return render_template(
        "alerts/alert.html",
        alert=alert,
        parts=messages.biggest_parts(alert),
        todo=messages.what_to_do(alert, me.kind),
        events=[(event, alerts.event_detail(event, me)) for event in alert.events],
        notifications=shown,
        package_page=package_page(alert.package_id),
        can_acknowledge=_may_acknowledge(alert),
        parties={party.id: party.name for party in parties},
        confirm=ConfirmForm(),
    )


@bp.post("/alerts/<int:alert_id>/acknowledge")
@login_required
def alert_acknowledge(alert_id: int) -> Response:
    alert = scoped_or_404(Alert, alert_id)
    return handle_action(
        lambda: alert_actions.acknowledge_in_panel(actor(), alert, utcnow()),
        _("Acknowledged: escalation stops. The alert stays open until the measure drops."),
        url_for("alerts.alert_detail", alert_id=alert.id),
    )


# --- the acknowledge link of a mail -------------------------------------------------------------


def _link_page(
    token: str, target: alert_actions.LinkTarget, form: ConfirmForm, error: str = ""
) -> tuple[str, int]:
    alert = target.alert
    return render_template(
        "alerts/ack.html",
        token=token,
        alert=alert,
        party=target.party,
        form=form,
        error=error,
        zone=str(get_timezone()),
        can_acknowledge=alert.status == AlertStatus.OPEN and target.party_is_on_package,
    ), (400 if error else 200)


def _target_or_404(token: str) -> alert_actions.LinkTarget:
    target = alert_actions.link_target(token)
    if target is None:
        page = render_template(
            "error.html",
            status=404,
            title=_("Link not valid"),
            message=_("This link is not valid or has expired; log in to see the alert."),
        )
        abort(make_response(page, 404))
    return target


@bp.get("/ack/<token>")
def link_page(token: str) -> tuple[str, int]:
    """What the link would acknowledge, and one button. Nothing changes on GET: mail
    scanners follow links."""
    return _link_page(token, _target_or_404(token), ConfirmForm())


@bp.post("/ack/<token>")
def link_acknowledge(token: str) -> PageResult:
    target = _target_or_404(token)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return _link_page(token, target, form, _("The form was too old. Try again."))
    try:
        alert_actions.acknowledge_by_link(target, utcnow())
    except ServiceError as exc:
        return _link_page(token, target, form, str(exc))
    flash(_("Thank you: the acknowledgement is recorded."), "success")
    return redirect(url_for("alerts.link_page", token=token))
