"""What ``doveadm -f json quota get`` says about mailboxes: used bytes and messages against
Dovecot's own limits, per user.

``doveadm`` prints one JSON object per quota root and resource, with every value a string:
``{"root": "User quota", "type": "STORAGE", "value": "1024", "limit": "10240",
"percent": "10"}``. STORAGE figures are KiB, MESSAGE figures are counts; a limit of ``-`` (or
empty, or ``0``) means unlimited, and ``error`` means Dovecot could not read that figure. With
``-A`` (every user) or a wildcard ``-u``, each object also has a ``username``.

Parsing is forgiving per entry and strict about the whole: output that is no JSON list of
objects is an error (nothing of it can be trusted), an entry that cannot be read is skipped,
counted and named in a few notes, so one odd user does not cost the others their figures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

KIB = 1024
NOTES_KEPT = 20  # the first few unreadable entries are named; the rest only counted
UNLIMITED = ("", "-", "0", "unlimited")


class DoveadmError(ValueError):
    """The output as a whole is not what ``doveadm -f json quota get`` prints."""


@dataclass(frozen=True)
class UserQuota:
    """One user's storage in one quota root, as Dovecot counts it."""

    user: str
    root: str
    used_bytes: int
    limit_bytes: int | None  # None: unlimited
    messages: int | None = None  # None: no MESSAGE figure for the root
    message_limit: int | None = None

    @property
    def percent(self) -> float | None:
        """How full against Dovecot's limit; None when unlimited."""
        if not self.limit_bytes:
            return None
        return 100.0 * self.used_bytes / self.limit_bytes


@dataclass
class Reading:
    """Every user's fullest quota root, and what could not be read."""

    users: dict[str, UserQuota] = field(default_factory=dict)
    skipped: int = 0
    notes: list[str] = field(default_factory=list)

    def skip(self, why: str) -> None:
        self.skipped += 1
        if len(self.notes) < NOTES_KEPT:
            self.notes.append(why)


def _count(raw: Any, what: str) -> int:
    """A non-negative whole number that doveadm printed as a string (or a number)."""
    if isinstance(raw, bool):
        raise ValueError(f"{what} {raw!r} is not a number")
    if isinstance(raw, int):
        number = raw
    elif isinstance(raw, str) and raw.strip().isdigit():
        number = int(raw.strip())
    else:
        raise ValueError(f"{what} {raw!r} is not a number")
    if number < 0:
        raise ValueError(f"{what} {raw!r} is negative")
    return number


def _limit(raw: Any) -> int | None:
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in UNLIMITED):
        return None
    return _count(raw, "limit") or None


@dataclass
class _Root:
    """The STORAGE and MESSAGE rows of one (user, root) while they are gathered."""

    storage: tuple[int, int | None] | None = None  # used bytes, limit bytes
    messages: tuple[int, int | None] | None = None


def parse_quota_get(text: str | bytes, user: str | None = None) -> Reading:
    """Read ``doveadm -f json quota get`` output. ``user``: whose figures an entry without a
    ``username`` are (the single-user form, ``-u USER``); such entries are skipped without it.

    A user with several quota roots is given the fullest root that has a storage figure (the
    one that will refuse mail first)."""
    try:
        document = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DoveadmError(f"not JSON: {exc}") from exc
    if isinstance(document, dict):  # one object alone: a single root, leniently
        document = [document]
    if not isinstance(document, list):
        raise DoveadmError("not a list of quota entries")
    roots: dict[tuple[str, str], _Root] = {}
    reading = Reading()
    for index, entry in enumerate(document):
        if not isinstance(entry, dict):
            reading.skip(f"entry {index}: not an object")
            continue
        who = str(entry.get("username") or user or "").strip()
        if not who:
            reading.skip(f"entry {index}: no username")
            continue
        kind = str(entry.get("type", "")).strip().upper()
        if kind not in ("STORAGE", "MESSAGE"):
            continue  # another resource (a backend's own): nothing Onus measures
        try:
            value = _count(entry.get("value"), "value")
            limit = _limit(entry.get("limit"))
        except ValueError as exc:
            reading.skip(f"entry {index} ({who}, {kind}): {exc}")
            continue
        found = roots.setdefault((who, str(entry.get("root", ""))), _Root())
        if kind == "STORAGE":
            found.storage = (value * KIB, None if limit is None else limit * KIB)
        else:
            found.messages = (value, limit)
    for (who, root), figures in roots.items():
        if figures.storage is None:
            continue  # only a message count: no bytes to measure with
        used, limit = figures.storage
        messages, message_limit = figures.messages or (None, None)
        candidate = UserQuota(who, root, used, limit, messages, message_limit)
        known = reading.users.get(who)
        if known is None or (candidate.percent or 0.0) > (known.percent or 0.0):
            reading.users[who] = candidate
    return reading
