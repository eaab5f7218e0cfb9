"""Acknowledging an alert from the panel or from the link a mail carries, with the audit
event every change a person makes leaves behind.

:func:`panel.services.alerts.acknowledge` records the acknowledgement, its step in the
alert's history and the audit event in one transaction; acknowledging an alert that is
acknowledged already changes nothing and leaves no audit event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from panel.extensions import db
from panel.models import Alert, Party
from panel.services import alerts, notifications
from panel.services.scope import Actor


@dataclass(frozen=True)
class LinkTarget:
    """What an acknowledge link points at: one alert, for one party of its package."""

    alert: Alert
    party: Party

    @property
    def party_is_on_package(self) -> bool:
        return any(a.party_id == self.party.id for a in self.alert.package.assignments)


def acknowledge_in_panel(actor: Actor, alert: Alert, now: datetime) -> Alert:
    """The actor's party knows about the alert: stop its escalation (audited).

    Raises ServiceError when the alert is resolved or the party is not on the package."""
    return alerts.acknowledge(alert, actor.party_id, actor.user_id, "panel", now, actor)


def link_target(token: str) -> LinkTarget | None:
    """The alert and party a signed acknowledge link names; None when the link is forged,
    expired, or its alert or party is gone. The signature is the authority here: the link
    is used without logging in."""
    found = notifications.read_ack_token(token)
    if found is None:
        return None
    alert = db.session.get(Alert, found[0])
    party = db.session.get(Party, found[1])
    if alert is None or party is None:
        return None
    return LinkTarget(alert, party)


def acknowledge_by_link(target: LinkTarget, now: datetime) -> Alert:
    """Acknowledge for the link's party, nobody logged in (audited in the package's tenancy).

    Raises ServiceError when the alert is resolved or the party is not on the package."""
    return alerts.acknowledge(target.alert, target.party.id, None, "link", now)
