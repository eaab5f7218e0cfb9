"""What a notification says, in the recipient's language: what is full, how full, how fast,
the biggest parts, what this party can do, the link to acknowledge, and who did.

The same facts make the mail (text and HTML), the webhook's JSON document and the line in
a digest, so every channel tells the same story.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import force_locale, format_datetime, ngettext
from flask_babel import gettext as _
from sqlalchemy import select

from panel.extensions import db
from panel.labels import label
from panel.measure.units import format_size
from panel.models import Agreement, Alert, Notification, Package, PackageUsage, UsageSample
from panel.policy import alerts as policy
from panel.services.mailer import _render

TOP_PARTS = 5


@dataclass(frozen=True)
class Outgoing:
    """A rendered notification: mail subject and bodies, and the webhook document."""

    subject: str
    text: str
    html: str
    document: dict[str, Any]


@dataclass(frozen=True)
class AlertStory:
    """One alert as a recipient reads it (words already in the recipient's language)."""

    alert_id: int
    kind: str
    title: str
    level: str
    status: str
    used: str
    quota: str
    percent: float
    forecast: str
    parts: list[tuple[str, str]] = field(default_factory=list)
    todo: list[str] = field(default_factory=list)
    ack_link: str = ""
    link: str = ""
    resolved: str = ""  # why it is over, for a "resolved" message
    acknowledged_by: str = ""  # the party that acknowledged it, for an "acknowledged" message


def _base() -> str:
    return str(current_app.config["ONUS_BASE_URL"]).rstrip("/")


def subject_words(alert: Alert) -> str:
    if alert.subject == "package":
        return _("package %(name)s", name=alert.package.name)
    kind, _sep, address = alert.subject.partition(":")
    if kind == "delivery":
        return _("mail to %(address)s", address=address)
    return _("mailbox %(address)s", address=address)


REFUSALS_RECENT = 60  # minutes: refusals within this span are told as "in the last N minutes"


def title(alert: Alert) -> str:
    """The alert in one sentence: how full, or how many messages were refused, or since when
    no mail came."""
    address = alert.subject.partition(":")[2]
    if alert.reason == "refused":
        since = alert.since or alert.measured_at
        minutes = (alert.measured_at - since).total_seconds() / 60
        if minutes <= REFUSALS_RECENT:
            return ngettext(
                "%(num)d message to %(address)s was refused in the last %(minutes)d minutes "
                "because the mailbox is full",
                "%(num)d messages to %(address)s were refused in the last %(minutes)d minutes "
                "because the mailbox is full",
                alert.refused,
                address=address,
                minutes=max(10, 10 * math.ceil(minutes / 10)),
            )
        return ngettext(
            "%(num)d message to %(address)s was refused since %(time)s because the mailbox is full",
            "%(num)d messages to %(address)s were refused since %(time)s because the mailbox "
            "is full",
            alert.refused,
            address=address,
            time=format_datetime(since, "short"),
        )
    if alert.reason == "silent":
        return _(
            "No mail has reached %(address)s since %(time)s, far longer than its usual mail "
            "makes plausible",
            address=address,
            time=format_datetime(alert.since or alert.opened_at, "short"),
        )
    words = _(
        "%(subject)s is %(percent)s %% full",
        subject=subject_words(alert),
        percent=f"{alert.percent:.0f}",
    )
    return words[:1].upper() + words[1:]


def forecast_words(hours: float | None) -> str:
    if hours is None or hours <= 0:
        return ""  # not growing, or full already
    unit, amount = policy.time_to_full(hours)
    if unit == "hours":
        return ngettext("full in about %(num)d hour", "full in about %(num)d hours", amount)
    return ngettext("full in about %(num)d day", "full in about %(num)d days", amount)


def part_name(key: str) -> str:
    """A usage component's key in words: a mailbox, a site's part, a database, other."""
    kind, _sep, rest = key.partition(":")
    if kind == "mailbox":
        return _("mailbox %(address)s", address=rest)
    if kind == "site":
        docroot, _sep, part = rest.rpartition(":")
        return f"{docroot}: {label(part)}"
    if kind == "database":
        return _("database %(name)s", name=rest)
    return label(key)


def biggest_parts(alert: Alert) -> list[tuple[str, str]]:
    """The largest parts of what is full: components of the package, or a mailbox's folders."""
    if alert.subject == "package":
        components = (
            db.session.scalars(
                select(UsageSample.components)
                .where(UsageSample.package_id == alert.package_id)
                .order_by(UsageSample.taken_at.desc())
                .limit(1)
            ).first()
            or {}
        )
        ranked = sorted(components.items(), key=lambda item: -item[1][0])[:TOP_PARTS]
        return [(part_name(key), format_size(value[0])) for key, value in ranked if value[0]]
    latest = db.session.get(PackageUsage, alert.package_id)
    address = alert.subject.partition(":")[2]
    mailbox = (latest.report.get("mailboxes", {}).get(address) if latest else None) or {}
    folders = mailbox.get("folders", {})
    ranked_folders = sorted(folders.items(), key=lambda item: -item[1]["bytes"])[:TOP_PARTS]
    return [(name or "INBOX", format_size(f["bytes"])) for name, f in ranked_folders if f["bytes"]]


def _role(package: Package, party_id: int) -> str:
    return next((a.role for a in package.assignments if a.party_id == party_id), "")


def _upgrade(package: Package) -> str:
    agreement = db.session.scalars(
        select(Agreement)
        .where(Agreement.package_id == package.id)
        .order_by(Agreement.version.desc())
        .limit(1)
    ).first()
    upgrade = agreement.grace.get("upgrade") if agreement is not None else "suggest"
    if upgrade == "preapproved":
        return _("The owner has agreed in advance to a larger plan: you may upgrade the package.")
    if upgrade == "suggest":
        return _("Offer the owner a larger plan (plan now: %(plan)s).", plan=package.plan.name)
    return ""


def what_to_do(alert: Alert, role: str) -> list[str]:
    """What the party in ``role`` can do about it, most useful first."""
    package = alert.package
    if alert.reason == "silent":
        address = alert.subject.partition(":")[2]
        todo = [
            _(
                "Send a test message to %(address)s from another address and check that it "
                "arrives.",
                address=address,
            ),
            _("Check that the web site's contact form still sends its mail."),
        ]
        if role == "hoster":
            todo.append(_("Check the domain's MX records and the node's mail server."))
        return todo
    if alert.subject != "package":
        address = alert.subject.partition(":")[2]
        todo = [
            _(
                "Delete or archive old mail in %(address)s, starting with the biggest folders; "
                "empty its Trash and Junk.",
                address=address,
            ),
            _("While it is full, new mail to %(address)s is refused.", address=address),
        ]
        if role == "hoster":
            todo.append(_("Or give the mailbox a larger quota."))
        return todo
    if role == "hoster":
        return [t for t in (_upgrade(package), _("Or ask the other parties to clean up.")) if t]
    if role == "builder":
        return [
            _(
                "Remove backup archives kept on the package (keep them elsewhere), unused "
                "plugins and themes, and caches."
            )
        ]
    return [
        _("Delete or archive old mail in the biggest mailboxes, and old uploads on the site."),
        _("Or ask %(hoster)s for a larger plan.", hoster=_hoster_name(package)),
    ]


def _hoster_name(package: Package) -> str:
    return next((a.party.name for a in package.assignments if a.role == "hoster"), "")


def story(alert: Alert, kind: str, party_id: int) -> AlertStory:
    """The alert told to one party, in the current locale."""
    from panel.services import notifications  # the link is the notification service's

    return AlertStory(
        alert_id=alert.id,
        kind=kind,
        title=title(alert),
        resolved=resolved_words(alert),
        level=label(alert.level),
        status=label(alert.status),
        used=format_size(alert.used_bytes),
        quota=format_size(alert.quota_bytes),
        percent=alert.percent,
        forecast=forecast_words(alert.hours_to_full),
        parts=biggest_parts(alert),
        todo=what_to_do(alert, _role(alert.package, party_id)),
        ack_link=notifications.ack_link(alert.id, party_id) if alert.status == "open" else "",
        link=f"{_base()}/alerts/{alert.id}",
        acknowledged_by=(
            alert.acknowledged_by_party.name if alert.acknowledged_by_party is not None else ""
        ),
    )


def resolved_words(alert: Alert) -> str:
    if alert.reason == "refused":
        return _("Mail is delivered to the mailbox again, or none was refused for a day.")
    if alert.reason == "silent":
        return _("Mail reaches the mailbox again.")
    return _("The measure dropped below the level: nothing more to do.")


def _heading(item: AlertStory) -> str:
    words = {
        "opened": _("%(level)s: %(title)s"),
        "raised": _("Worse, now %(level)s: %(title)s"),
        "lowered": _("Better, now %(level)s: %(title)s"),
        "escalated": _("Escalated to you, %(level)s: %(title)s"),
        "reminder": _("Reminder, %(level)s: %(title)s"),
        "acknowledged": _("Acknowledged by %(party)s, %(level)s: %(title)s"),
        "resolved": _("Resolved: %(title)s"),
    }[item.kind]
    heading = words % {"level": item.level, "title": item.title, "party": item.acknowledged_by}
    if item.forecast and item.kind != "resolved":
        heading += f" ({item.forecast})"
    return heading[:1].upper() + heading[1:]


def _document(item: AlertStory, alert: Alert) -> dict[str, Any]:
    acknowledger = alert.acknowledged_by_party
    return {
        "event": item.kind,
        "text": _heading(item),
        "alert": {
            "id": alert.id,
            "package": alert.package.name,
            "subject": alert.subject,
            "level": alert.level,
            "status": alert.status,
            "used_bytes": alert.used_bytes,
            "quota_bytes": alert.quota_bytes,
            "percent": alert.percent,
            "hours_to_full": alert.hours_to_full,
            "opened_at": alert.opened_at.isoformat(),
            "reason": alert.reason,
            "refused": alert.refused,
            "since": alert.since.isoformat() if alert.since else None,
            "acknowledged_at": (
                alert.acknowledged_at.isoformat() if alert.acknowledged_at else None
            ),
            # the party, as the API names it; the way it was done (panel, link, api)
            "acknowledged_by": (
                {"id": acknowledger.id, "name": acknowledger.name} if acknowledger else None
            ),
            "acknowledged_via": alert.acknowledged_via,
        },
        "acknowledge_url": item.ack_link or None,
        "url": item.link,
    }


def compose(notification: Notification, now: datetime) -> Outgoing:
    """Render a notification (one alert event, or a digest of held ones) in its language."""
    with force_locale(notification.language):
        if notification.kind == "digest":
            return _digest(notification, now)
        alert = notification.alert
        assert alert is not None
        item = story(alert, notification.kind, notification.party_id)
        context = {"item": item, "heading": _heading(item), "sent_means": _sent_means()}
        return Outgoing(
            subject=f"[Onus] {_heading(item)}",
            text=_render("emails/alert.txt", **context),
            html=_render("emails/alert.html", **context),
            document=_document(item, alert),
        )


def _sent_means() -> str:
    return _(
        "You get this because your party answers for it under the package's agreement (or, "
        "without one, because you are a party of the package)."
    )


def _digest(notification: Notification, now: datetime) -> Outgoing:
    items = db.session.scalars(
        select(Notification)
        .where(Notification.digest_id == notification.id)
        .order_by(Notification.id)
    ).all()
    stories = [story(item.alert, item.kind, notification.party_id) for item in items if item.alert]
    lines = [(s, _heading(s)) for s in stories]
    subject = ngettext(
        "[Onus] Daily summary: %(num)d storage alert",
        "[Onus] Daily summary: %(num)d storage alerts",
        len(lines),
    )
    context = {"lines": lines, "date": now.date().isoformat(), "sent_means": _sent_means()}
    return Outgoing(
        subject=subject,
        text=_render("emails/digest.txt", **context),
        html=_render("emails/digest.html", **context),
        document={
            "event": "digest",
            "text": "\n".join(heading for _s, heading in lines),
            "alerts": [
                {"id": s.alert_id, "event": s.kind, "text": h, "url": s.link} for s, h in lines
            ],
        },
    )
