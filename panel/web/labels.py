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
}


def label(code: str) -> str:
    """The word for ``code``; an unknown code is shown as it is."""
    return str(LABELS.get(code, code))


def label_choices(*codes: str) -> list[tuple[str, Any]]:
    """(code, word) pairs for a select field."""
    return [(code, LABELS[code]) for code in codes]
