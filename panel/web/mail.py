"""Mail flow on the web: the hoster's mail log sources per node, each package's messages per
mailbox and hour with every refusal explained, and the bounces that came back."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import func
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from panel.extensions import db
from panel.mailflow import codes
from panel.measure.units import format_size
from panel.models import (
    HostingNode,
    MailLogSource,
    MailRefusal,
    Notification,
    Package,
    PartyKind,
    ReceivedBounce,
)
from panel.services import mailflow
from panel.services.errors import NotFound, ServiceError
from panel.services.measurement import node_queue
from panel.services.scope import scoped
from panel.web.common import (
    PageResult,
    actor,
    handle_action,
    handle_form,
    package_page,
    role_required,
    scoped_or_404,
)
from panel.web.forms import ConfirmForm, MailLogSourceEditForm, MailLogSourceForm, options
from workers.tasks import ingest_mail_logs

bp = Blueprint("mail", __name__)

DEFAULT_DAYS = 14
MAX_DAYS = 400
REFUSALS_SHOWN = 200
BOUNCES_PAGE_SIZE = 50
NOTES_SHOWN = 5


def _language() -> str:
    return str(get_locale() or "en")


@bp.app_template_global()
def mail_week(package: Package) -> mailflow.FlowTotals | None:
    """The package's mail of the last 7 days for its page, or None when no log is read."""
    if not mailflow.log_coverage(package)[0]:
        return None
    end = datetime.now(UTC)
    return mailflow.totals(package.id, end - timedelta(days=7), end)


@bp.app_template_global("code_meaning")
def explained(text: str) -> str:
    """The status code in ``text`` with its plain words in the viewer's language, or ""."""
    explanation = codes.explain(text, _language())
    return codes.format_explanation(explanation) if explanation else ""


# --- mail log sources -----------------------------------------------------------------------------


def note_words(note: dict[str, Any]) -> str:
    """What one read found, in words for the hoster."""
    kind = note.get("kind", "")
    path = note.get("path") or ""
    detail = note.get("detail") or ""
    amount = note.get("bytes")
    size = format_size(amount) if isinstance(amount, int) else ""
    if kind == "from_end":
        return _("Counts only what is written from now on; not read yet.")
    if kind == "new_file":
        if detail == "from end":
            return _("Started at the end of %(path)s: only new lines are counted.", path=path)
        return _("Read %(path)s from its start.", path=path)
    if kind == "rotated":
        return _("The log was rotated; Onus finished the old file %(path)s.", path=path)
    if kind == "caught_up_from":
        return _("Read the rotated file %(path)s from %(size)s on.", path=path, size=size)
    if kind == "truncated":
        return _(
            "%(path)s became shorter than the %(size)s Onus had read; it was read again from "
            "its start.",
            path=path,
            size=size,
        )
    if kind == "recreated":
        return _(
            "%(path)s was replaced by a file with other content; it was read from its start.",
            path=path,
        )
    if kind == "moved":
        return _("%(path)s was moved; Onus went on where it had stopped.", path=path)
    if kind == "missed":
        if isinstance(amount, int):
            return ngettext(
                "%(num)d byte of %(path)s was never read: %(detail)s",
                "%(num)d bytes of %(path)s were never read: %(detail)s",
                amount,
                path=path,
                detail=detail,
            )
        return _(
            "Part of the log may never be read (how much is unknown): %(path)s: %(detail)s",
            path=path,
            detail=detail,
        )
    if kind == "unterminated_tail":
        return _(
            "%(path)s ended without a line break; its last %(size)s were read as one line.",
            path=path,
            size=size,
        )
    if kind == "long_line_split":
        return _(
            "A very long line (%(size)s) in %(path)s was read in pieces.", path=path, size=size
        )
    if kind == "error":
        return _("%(path)s could not be read: %(detail)s", path=path, detail=detail)
    if kind == "position_lost":
        return _(
            "Where Onus had stopped could not be restored (%(detail)s); it went on from the "
            "end of the log, so lines in between were not counted.",
            detail=detail,
        )
    if kind == "state_lost":
        return _(
            "The counts between reads could not be restored (%(detail)s); counting started afresh.",
            detail=detail,
        )
    return " ".join(part for part in (kind, path, detail, size) if part)


def _node_choices() -> list[Any]:
    nodes = db.session.scalars(scoped(HostingNode, actor()).order_by(HostingNode.name))
    return options(*((node.id, node.name) for node in nodes))


def _add_form() -> MailLogSourceForm:
    form = MailLogSourceForm(prefix="source")
    form.node_id.choices = _node_choices()
    return form


def _sources_page(status: int = 200, form: MailLogSourceForm | None = None) -> tuple[str, int]:
    nodes = db.session.scalars(scoped(HostingNode, actor()).order_by(HostingNode.name)).all()
    by_node: dict[int, list[MailLogSource]] = defaultdict(list)
    followed = mailflow.sources_of(actor())
    for source in followed:
        by_node[source.node_id].append(source)
    page = render_template(
        "mail/sources.html",
        nodes=nodes,
        sources=by_node,
        failing=[source for source in followed if source.last_error],
        form=form or _add_form(),
        confirm=ConfirmForm(),
        note_words=note_words,
        notes_shown=NOTES_SHOWN,
    )
    return page, status


@bp.get("/hoster/mail-logs")
@role_required(PartyKind.HOSTER)
def sources() -> tuple[str, int]:
    return _sources_page()


@bp.post("/hoster/mail-logs")
@role_required(PartyKind.HOSTER)
def source_add() -> PageResult:
    form = _add_form()
    if form.validate_on_submit():
        try:
            source = mailflow.add_source(
                actor(),
                form.node_id.data,
                form.path.data or "",
                form.log_format.data or "auto",
                bool(form.from_end.data),
            )
        except ServiceError as exc:
            form.form_errors.append(str(exc))
        except NotFound:
            abort(404)
        else:
            flash(_("Onus now follows %(path)s.", path=source.path), "success")
            return redirect(url_for("mail.sources"))
    return _sources_page(400, form)


@bp.route("/hoster/mail-logs/<int:source_id>/edit", methods=["GET", "POST"])
@role_required(PartyKind.HOSTER)
def source_edit(source_id: int) -> PageResult:
    source = scoped_or_404(MailLogSource, source_id)
    form = MailLogSourceEditForm(obj=source)
    return handle_form(
        form,
        lambda: mailflow.update_source(
            actor(), source.id, form.log_format.data or "", bool(form.enabled.data)
        ),
        _("Mail log saved."),
        lambda _s: url_for("mail.sources"),
        "form.html",
        title=_("Mail log %(path)s on %(node)s", path=source.path, node=source.node.name),
        back=url_for("mail.sources"),
    )


@bp.post("/hoster/mail-logs/<int:source_id>/delete")
@role_required(PartyKind.HOSTER)
def source_delete(source_id: int) -> Response:
    source = scoped_or_404(MailLogSource, source_id)
    return handle_action(
        lambda: mailflow.remove_source(actor(), source.id),
        _("Onus no longer follows this log; what it counted stays."),
        url_for("mail.sources"),
    )


@bp.post("/hoster/nodes/<int:node_id>/read-mail-logs")
@role_required(PartyKind.HOSTER)
def read_now(node_id: int) -> Response:
    """Read now: the node's worker reads what its logs gained since the last read."""
    node = scoped_or_404(HostingNode, node_id)
    enabled = db.session.scalar(
        scoped(MailLogSource, actor())
        .where(MailLogSource.node_id == node.id, MailLogSource.enabled.is_(True))
        .with_only_columns(func.count(MailLogSource.id))
    )
    if not enabled:
        flash(_("Onus reads no mail log on %(node)s: add one first.", node=node.name), "error")
        return redirect(url_for("mail.sources"))
    ingest_mail_logs.apply_async(args=[node.id], queue=node_queue(node, current_app.config))
    flash(
        _(
            "Reading the mail logs of %(node)s is queued; the figures appear when the node's "
            "worker has run it.",
            node=node.name,
        ),
        "success",
    )
    return redirect(url_for("mail.sources"))


# --- a package's mail -------------------------------------------------------------------------


@dataclass
class MailboxFlow:
    """One mailbox's days in the period and their sums."""

    address: str
    days: list[mailflow.DayFlow] = field(default_factory=list)
    total: mailflow.DayFlow | None = None


def _sum(address: str, days: list[mailflow.DayFlow]) -> mailflow.DayFlow:
    total = mailflow.DayFlow(address, days[0].day if days else datetime.now(UTC).date())
    for day in days:
        for name in ("delivered", "deferred", "bounced", "rejected", "over_quota"):
            setattr(total, name, getattr(total, name) + getattr(day, name))
    total.first_refused_at = min(
        (d.first_refused_at for d in days if d.first_refused_at is not None), default=None
    )
    total.last_refused_at = max(
        (d.last_refused_at for d in days if d.last_refused_at is not None), default=None
    )
    return total


def _period_days() -> int:
    """``?days=``: a whole number of days, 14 when missing or not a number, within 1..400."""
    days = request.args.get("days", DEFAULT_DAYS, type=int)
    return min(max(days, 1), MAX_DAYS)


@bp.get("/packages/<int:package_id>/mail")
@login_required
def package_mail(package_id: int) -> str:
    package = scoped_or_404(Package, package_id)
    days = _period_days()
    today = datetime.now(UTC).date()
    end = datetime.combine(today + timedelta(days=1), time(), tzinfo=UTC)
    start = end - timedelta(days=days)
    flows = mailflow.daily_flow(package.id, start, end)
    by_address: dict[str, MailboxFlow] = {
        mailbox.address: MailboxFlow(mailbox.address)
        for mailbox in sorted(package.mailboxes, key=lambda m: m.address)
    }
    for day in flows:
        by_address.setdefault(day.address, MailboxFlow(day.address)).days.append(day)
    for mailbox in by_address.values():
        mailbox.total = _sum(mailbox.address, mailbox.days)
    refused_count = db.session.scalar(
        scoped(MailRefusal, actor())
        .where(MailRefusal.package_id == package.id, MailRefusal.at >= start, MailRefusal.at < end)
        .with_only_columns(func.count(MailRefusal.id))
    )
    latest = mailflow.refusals(package.id, start, end, REFUSALS_SHOWN)
    logs, last_read = mailflow.log_coverage(package)
    return render_template(
        "mail/package.html",
        package=package,
        days=days,
        max_days=MAX_DAYS,
        start=start,
        end=end,
        timedelta_day=timedelta(days=1),
        mailboxes=sorted(by_address.values(), key=lambda m: m.address),
        refusals=[(r, explained(f"{r.dsn or ''} {r.reason}")) for r in latest],
        refused_count=refused_count or 0,
        logs=logs,
        last_read=last_read,
        package_page=package_page(package.id),
    )


# --- bounces received -----------------------------------------------------------------------------


@bp.get("/hoster/bounces")
@role_required(PartyKind.HOSTER)
def bounces() -> str:
    page = max(request.args.get("page", 1, type=int), 1)
    rows = db.session.scalars(
        scoped(ReceivedBounce, actor())
        .order_by(ReceivedBounce.received_at.desc(), ReceivedBounce.id.desc())
        .offset((page - 1) * BOUNCES_PAGE_SIZE)
        .limit(BOUNCES_PAGE_SIZE + 1)
    ).all()
    shown = rows[:BOUNCES_PAGE_SIZE]
    wanted = {b.notification_id for b in shown if b.notification_id is not None}
    notifications = {
        n.id: n
        for n in db.session.scalars(
            scoped(Notification, actor())
            .where(Notification.id.in_(wanted))
            .options(selectinload(Notification.alert), selectinload(Notification.party))
        )
    }
    not_bounces, unmatched = mailflow.unmatched_bounces()
    return render_template(
        "mail/bounces.html",
        not_bounces=not_bounces,
        unmatched=unmatched,
        bounces=[
            (
                bounce,
                notifications.get(bounce.notification_id or 0),
                explained(f"{bounce.status or ''} {bounce.diagnostic}"),
            )
            for bounce in shown
        ],
        page=page,
        has_next=len(rows) > BOUNCES_PAGE_SIZE,
    )
