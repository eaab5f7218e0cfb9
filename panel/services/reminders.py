"""The weekly reminder: one mail to each hoster listing its packages without a complete
agreement (none at all, or a version not every party has acknowledged yet)."""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from flask_babel import force_locale, format_date, ngettext
from flask_babel import gettext as _

from panel.extensions import db
from panel.models import Package, Party
from panel.services import agreements
from panel.services.agreements import AgreementState
from panel.services.mailer import _render, send_mail

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReminderLine:
    """One package in the reminder, its state in the hoster's words."""

    name: str
    state: str
    link: str


def reminder_addresses(hoster: Party) -> list[str]:
    """Where the hoster's reminder goes: its email contacts; without any, its people's logins
    (a reminder nobody can receive would vanish silently)."""
    addresses = [c.value for c in hoster.contacts if c.kind == "email"]
    if not addresses:
        addresses = [m.user.email for m in hoster.memberships if m.user.active]
    return list(dict.fromkeys(addresses))


def describe(state: AgreementState, now: datetime) -> str:
    """The package's agreement state in words, in the current locale."""
    if state.kind == "none" or state.since is None:
        return _("no agreement")
    days = max(0, (now - state.since).days)
    return _(
        "waiting for %(parties)s to acknowledge version %(version)s since %(date)s (%(days)s)",
        version=state.version,
        parties=", ".join(state.waiting_for),
        date=format_date(state.since, "long"),
        days=ngettext("%(num)d day", "%(num)d days", days),
    )


def reminder_subject(count: int) -> str:
    return ngettext(
        "Onus: %(num)d package without a complete agreement",
        "Onus: %(num)d packages without a complete agreement",
        count,
    )


def _mail_hoster(
    hoster: Party, found: list[tuple[Package, AgreementState]], to: list[str], now: datetime
) -> None:
    base = str(current_app.config["ONUS_BASE_URL"]).rstrip("/")
    with force_locale(hoster.language):
        lines = [
            ReminderLine(package.name, describe(state, now), f"{base}/hoster/packages/{package.id}")
            for package, state in found
        ]
        context = {"hoster": hoster, "lines": lines, "link": f"{base}/hoster/"}
        subject = reminder_subject(len(lines))
        text = _render("emails/agreement_reminder.txt", **context)
        html = _render("emails/agreement_reminder.html", **context)
    send_mail(", ".join(to), subject, text, html)


def send_agreement_reminders(now: datetime) -> dict[str, int]:
    """One mail per hoster with active packages lacking a complete agreement, in the hoster's
    language. Counts hosters mailed, packages listed in those mails, mails that failed, and
    hosters that have no address to mail."""
    counts = {"hosters": 0, "packages": 0, "failed": 0, "unreachable": 0}
    for hoster_id, found in sorted(agreements.incomplete_by_hoster().items()):
        hoster = db.session.get(Party, hoster_id)
        to = reminder_addresses(hoster) if hoster is not None else []
        if hoster is None or not to:
            counts["unreachable"] += 1
            logger.warning("agreement reminder: hoster %s has no email address", hoster_id)
            continue
        try:
            _mail_hoster(hoster, found, to, now)
        except (OSError, smtplib.SMTPException) as exc:
            counts["failed"] += 1
            logger.warning("agreement reminder to %s failed: %s", hoster.name, exc)
            continue
        counts["hosters"] += 1
        counts["packages"] += len(found)
    return counts
