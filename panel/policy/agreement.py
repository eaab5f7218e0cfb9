"""The responsibility matrix of an agreement, its rules, and who answered at a given time.

An agreement version names, per category of resource, the role that answers for it and
the roles to escalate to, in order. Versions are never changed: a change makes a new
version, which each party must acknowledge; until a party has, the version it last
acknowledged stays in force for it, and what the new version adds to its duties binds it
already, unacknowledged (so no category is left without someone who answers).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ROLES = ("hoster", "builder", "owner")

# DESIGN.md's default matrix: category -> (responsible roles, escalation order)
DEFAULT_MATRIX: dict[str, dict[str, list[str]]] = {
    "mailbox": {"responsible": ["owner"], "escalation": ["hoster"]},
    "site_files": {"responsible": ["builder"], "escalation": ["hoster"]},
    "site_uploads": {"responsible": ["owner"], "escalation": ["builder", "hoster"]},
    "site_backups": {"responsible": ["builder"], "escalation": ["hoster"]},
    "databases": {"responsible": ["builder"], "escalation": ["hoster"]},
    "capacity": {"responsible": ["hoster"], "escalation": []},
    "delivery": {"responsible": ["owner", "hoster"], "escalation": ["builder"]},
}
CATEGORIES = tuple(DEFAULT_MATRIX)
LEVELS = ("notice", "warning", "critical")
DEFAULT_THRESHOLDS: dict[str, int] = {"notice": 80, "warning": 90, "critical": 100}
# hours an alert of each level may stay unacknowledged before it escalates
DEFAULT_DEADLINES: dict[str, int] = {"notice": 72, "warning": 24, "critical": 2}
AT_FULL = ("bounce", "defer")
UPGRADES = ("none", "suggest", "preapproved")
DEFAULT_GRACE: dict[str, Any] = {"at_full": "defer", "defer_hours": 72, "upgrade": "suggest"}


def N_(message: str) -> str:
    """Marks a message for the catalogue (pybabel extracts N_ by default); the service
    translates it, since the core has no Flask."""
    return message


class PolicyError(ValueError):
    """What is wrong with a matrix, thresholds or grace policy, in words for the user.

    ``message`` is the English catalogue id with ``%(name)s`` placeholders; ``params`` fill
    them: a ``category``, ``role`` or ``level`` param is a code the service puts in words.
    """

    def __init__(self, message: str, **params: str) -> None:
        self.message = message
        self.params = params
        super().__init__(message % params if params else message)


def _role_list(entry: object, key: str, category: str) -> list[str]:
    """The roles under ``key`` of a matrix entry, which must be a list of role names."""
    roles = entry.get(key, []) if isinstance(entry, Mapping) else None
    if not isinstance(roles, list | tuple):
        raise PolicyError(
            N_("The matrix entry for %(category)s needs a list of roles."), category=category
        )
    return list(roles)


def check_matrix(
    matrix: Mapping[str, Mapping[str, Sequence[str]]], assigned: Iterable[str] | None = None
) -> None:
    """Every category has a responsible role; roles are known; escalation does not repeat.

    With ``assigned`` (the roles a package has parties for), every responsible role must
    be held by a party, so no category is left without someone who answers.
    """
    held = set(assigned) if assigned is not None else set(ROLES)
    missing = [c for c in CATEGORIES if c not in matrix]
    if missing:
        raise PolicyError(N_("The matrix has no entry for %(category)s."), category=missing[0])
    unknown_categories = sorted(str(c) for c in matrix if c not in CATEGORIES)
    if unknown_categories:
        raise PolicyError(
            N_("Unknown category %(value)s in the matrix."), value=repr(unknown_categories[0])
        )
    for category in CATEGORIES:
        entry = matrix[category]
        responsible = _role_list(entry, "responsible", category)
        escalation = _role_list(entry, "escalation", category)
        unknown = [r for r in responsible + escalation if r not in ROLES]
        if unknown:
            raise PolicyError(
                N_("Unknown role %(value)s for %(category)s."),
                value=repr(unknown[0]),
                category=category,
            )
        if not responsible:
            raise PolicyError(
                N_("Nobody answers for %(category)s: choose a responsible role."), category=category
            )
        if len(set(escalation)) != len(escalation) or set(escalation) & set(responsible):
            raise PolicyError(
                N_("The escalation order for %(category)s repeats a role or the responsible one."),
                category=category,
            )
        unheld = [r for r in responsible if r not in held]
        if unheld:
            raise PolicyError(
                N_(
                    "Nobody on this package would answer for %(category)s: the matrix gives it "
                    "to the %(role)s, and the package has none."
                ),
                category=category,
                role=unheld[0],
            )


def _whole(value: object) -> bool:
    """A whole number as JSON has it (not a bool, not a float, not a string)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_thresholds(thresholds: Mapping[str, int], deadlines: Mapping[str, int]) -> None:
    """Levels rise and stay within 1–100 %; every level has a positive deadline."""
    values = [thresholds.get(level) for level in LEVELS]
    if not all(_whole(v) for v in values):
        raise PolicyError(N_("Every level needs a whole-number percentage."))
    notice, warning, critical = values  # type: ignore[misc]
    if not 0 < notice < warning < critical <= 100:  # type: ignore[operator]
        raise PolicyError(
            N_("Thresholds must rise and stay within 100 %: notice < warning < critical ≤ 100.")
        )
    for level in LEVELS:
        hours = deadlines.get(level)
        if not _whole(hours) or not 0 < hours <= 24 * 30:  # type: ignore[operator]
            raise PolicyError(N_("The deadline for %(level)s must be 1 to 720 hours."), level=level)


def check_grace(grace: Mapping[str, Any]) -> None:
    """What happens at 100 %: bounce, or defer for a whole number of hours up to a week."""
    if grace.get("at_full") not in AT_FULL:
        raise PolicyError(N_("At 100 %, mail is either bounced or deferred."))
    hours = grace.get("defer_hours", 0)
    if grace["at_full"] == "defer" and not (_whole(hours) and 0 < hours <= 24 * 7):
        raise PolicyError(N_("Deferring lasts 1 to 168 hours (senders retry for days, not weeks)."))
    if grace.get("upgrade") not in UPGRADES:
        raise PolicyError(N_("An upgrade is none, suggested or pre-approved."))


def text_hash(text: str) -> str:
    """The fingerprint of the exact text a party saw and acknowledged."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Version:
    """One agreement version as the responsibility query needs it."""

    number: int
    created_at: datetime
    matrix: Mapping[str, Mapping[str, Sequence[str]]]
    parties: Mapping[str, int]  # role -> party id


@dataclass(frozen=True)
class Acknowledged:
    version: int
    party_id: int
    at: datetime


@dataclass(frozen=True)
class Answerer:
    """A party that answered for a category at a moment, under the version in force for it."""

    role: str
    party_id: int
    version: int
    acknowledged: bool
    escalation: tuple[str, ...] = field(default=())


def _held_through(versions: Sequence[Version], party_id: int, role: str) -> list[Version]:
    """The versions, newest last, in which ``party_id`` held ``role`` without a break up to
    the newest of ``versions``: a party taken off the package is released from what it
    agreed to, and one that comes back starts over."""
    held: list[Version] = []
    for version in sorted(versions, key=lambda v: v.number, reverse=True):
        if version.parties.get(role) != party_id:
            break
        held.append(version)
    return held[::-1]


def in_force(
    versions: Sequence[Version],
    acks: Iterable[Acknowledged],
    party_id: int,
    at: datetime,
    role: str | None = None,
) -> tuple[Version, bool] | None:
    """The version in force for ``party_id`` at ``at``: the newest it had acknowledged by
    then; if none, the newest version that existed then (binding but not acknowledged).

    With ``role``, only the versions in which the party held that role without a break up
    to the newest count: an acknowledgement from before it was taken off no longer binds.
    """
    existing = [v for v in versions if v.created_at <= at]
    if not existing:
        return None
    newest = max(existing, key=lambda v: v.number)
    candidates = existing if role is None else _held_through(existing, party_id, role)
    acknowledged = {a.version for a in acks if a.party_id == party_id and a.at <= at}
    agreed = [v for v in candidates if v.number in acknowledged]
    if agreed:
        return max(agreed, key=lambda v: v.number), True
    return newest, False


def who_answered(
    versions: Sequence[Version], acks: Sequence[Acknowledged], category: str, at: datetime
) -> list[Answerer]:
    """Who answered for ``category`` at ``at``.

    The parties are those of the newest version then (a party taken off the package no
    longer answers). The newest version binds each of them, acknowledged or not; one that
    has not yet acknowledged it also still answers for what it did acknowledge in an older
    version (the old one stays in force for it). So a category the newest version gives to
    a party always has someone answering, and one moved away from a party stays with it
    until it acknowledges the move.
    """
    if category not in CATEGORIES:
        raise PolicyError(N_("Unknown category %(value)s."), value=repr(category))
    existing = [v for v in versions if v.created_at <= at]
    if not existing:
        return []
    newest = max(existing, key=lambda v: v.number)
    answerers = []
    for role, party_id in sorted(newest.parties.items()):
        found = in_force(existing, acks, party_id, at, role)
        assert found is not None  # a version exists
        version, agreed = found
        entry = version.matrix[category]
        newest_entry = newest.matrix[category]
        if agreed and role in entry["responsible"]:
            answerers.append(
                Answerer(role, party_id, version.number, True, tuple(entry.get("escalation", ())))
            )
        elif role in newest_entry["responsible"]:
            # binding, not (yet) acknowledged: the newest version's duty for this party
            answerers.append(
                Answerer(
                    role, party_id, newest.number, False, tuple(newest_entry.get("escalation", ()))
                )
            )
    return answerers
