"""Words for stored codes (kinds, roles, statuses), in the viewer's language."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

LABELS: dict[str, Any] = {
    "hoster": _l("hoster"),
    "builder": _l("web builder"),
    "owner": _l("owner"),
    "email": _l("email"),
    "webhook": _l("webhook"),
    "active": _l("active"),
    "suspended": _l("suspended"),
    "cancelled": _l("cancelled"),
    # shares of a package's storage and parts of a site
    "mail": _l("mail"),
    "site": _l("website"),
    "databases": _l("databases"),
    "other": _l("other"),
    "free": _l("free"),
    "core": _l("CMS core"),
    "plugins": _l("plugins"),
    "themes": _l("themes"),
    "uploads": _l("uploads"),
    "backups": _l("backups"),
    "cache": _l("cache"),
    "wordpress": "WordPress",
    "joomla": "Joomla",
    "drupal": "Drupal",
    "opencart": "OpenCart",
    "static": _l("static site"),
    # categories of an agreement's responsibility matrix ("databases" is above)
    "mailbox": _l("mailbox contents"),
    "site_files": _l("site files: CMS core, plugins, themes, cache"),
    "site_uploads": _l("site uploads"),
    "site_backups": _l("site backups kept on the package"),
    "capacity": _l("package capacity (plan size, upgrades)"),
    "delivery": _l("mail delivery failures"),
    # alert levels and the grace policy
    "notice": _l("notice"),
    "warning": _l("warning"),
    "critical": _l("critical"),
    "bounce": _l("refuse new mail (bounce)"),
    "defer": _l("hold new mail back for a while (defer)"),
    "none": _l("none"),
    "suggest": _l("the hoster suggests a larger plan"),
    "preapproved": _l("move to a larger plan (pre-approved)"),
    # an alert's status, how it was resolved, the steps of its history
    "open": _l("open"),
    "acknowledged": _l("acknowledged"),
    "resolved": _l("resolved"),
    "dropped": _l("the measure dropped below the level"),
    "raised": _l("raised to a higher level"),
    "lowered": _l("lowered to a lower level"),
    "opened": _l("opened"),
    "escalated": _l("escalated"),
    "unreachable": _l("could not be reached"),
    "dovecot": _l("reported by the mail server (Dovecot)"),
    "exhausted": _l("nobody left to escalate to"),
    "reminded": _l("reminder"),
    "reminder": _l("reminder"),
    "digest": _l("daily summary"),
    # what became of a notification, and where it went ("email", "webhook" are above)
    "held": _l("waiting for the daily summary"),
    "queued": _l("queued"),
    "sending": _l("being sent"),
    "sent": _l("sent"),
    "failed": _l("failed"),
    "bounced": _l("bounced"),
    "withdrawn": _l("not sent: resolved before the daily summary"),
    "panel": _l("panel inbox"),
    # languages
    "en": "English",
    "nl": "Nederlands",
}


def label(code: str) -> str:
    """The word for ``code``; an unknown code is shown as it is."""
    return str(LABELS.get(code, code))


def label_choices(*codes: str) -> list[tuple[str, Any]]:
    """(code, word) pairs for a select field."""
    return [(code, LABELS[code]) for code in codes]
