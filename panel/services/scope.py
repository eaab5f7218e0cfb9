"""The one scoping function: every tenant query goes through :func:`scoped`.

A hoster sees everything of its own tenancy; a builder or owner sees only the packages
where its party holds that role, and what belongs to those packages. Objects outside
the scope are indistinguishable from objects that do not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, false, or_, select

from panel.extensions import db
from panel.models import (
    Alert,
    ApiToken,
    Assignment,
    AuditEvent,
    Contact,
    Domain,
    HostedDatabase,
    HostingNode,
    Invitation,
    Mailbox,
    MailFlowHour,
    MailLogSource,
    MailRefusal,
    Membership,
    Notification,
    Package,
    Party,
    PartyKind,
    Plan,
    QuotaWarning,
    ReceivedBounce,
    Site,
    User,
)
from panel.services.errors import NotFound

M = TypeVar("M")


@dataclass(frozen=True)
class Actor:
    """Who is acting: a person, in the party they have switched to."""

    user_id: int
    party_id: int
    kind: str
    tenant_id: int

    @property
    def is_hoster(self) -> bool:
        return self.kind == PartyKind.HOSTER

    @classmethod
    def for_membership(cls, user: User, party: Party) -> Actor:
        return cls(user_id=user.id, party_id=party.id, kind=party.kind, tenant_id=party.tenant_id)


def visible_package_ids(actor: Actor) -> Select[tuple[int]]:
    """The ids of the packages the actor may see."""
    if actor.is_hoster:
        return select(Package.id).where(Package.hoster_id == actor.tenant_id)
    return select(Assignment.package_id).where(
        Assignment.role == actor.kind, Assignment.party_id == actor.party_id
    )


def _visible_party_ids(actor: Actor) -> Select[tuple[int]]:
    if actor.is_hoster:
        return select(Party.id).where(
            or_(Party.hoster_id == actor.tenant_id, Party.id == actor.tenant_id)
        )
    # parties holding a role on a visible package, so names of co-parties can be shown
    return (
        select(Assignment.party_id)
        .where(Assignment.package_id.in_(visible_package_ids(actor)))
        .union(select(Party.id).where(Party.id == actor.party_id))
    )


def _criterion(model: type, actor: Actor) -> ColumnElement[bool]:
    hoster_only = actor.is_hoster
    if model is Package:
        return Package.id.in_(visible_package_ids(actor))
    if model in (
        Domain,
        Assignment,
        Mailbox,
        Site,
        HostedDatabase,
        MailFlowHour,
        MailRefusal,
        QuotaWarning,
    ):
        return model.package_id.in_(visible_package_ids(actor))  # type: ignore[attr-defined]
    if model is Party:
        return Party.id.in_(_visible_party_ids(actor))
    if model is Alert:
        return Alert.package_id.in_(visible_package_ids(actor))
    if model is Notification:
        # who was told at which address is private to that party, and to its hoster
        if hoster_only:
            return Notification.party_id.in_(_visible_party_ids(actor))
        return Notification.party_id == actor.party_id
    if model is Contact:
        # contacts are private to their party, and to the hoster that serves it
        if hoster_only:
            return Contact.party_id.in_(_visible_party_ids(actor))
        return Contact.party_id == actor.party_id
    if model in (Plan, HostingNode, AuditEvent):
        return model.hoster_id == actor.tenant_id if hoster_only else false()  # type: ignore[attr-defined]
    if model is MailLogSource:  # where a node's logs are is the hoster's business
        if not hoster_only:
            return false()
        return MailLogSource.node_id.in_(
            select(HostingNode.id).where(HostingNode.hoster_id == actor.tenant_id)
        )
    if model is ReceivedBounce:  # a bounce of a warning to a party the hoster serves
        if not hoster_only:
            return false()
        return ReceivedBounce.notification_id.in_(
            select(Notification.id).where(Notification.party_id.in_(_visible_party_ids(actor)))
        )
    if model is ApiToken:  # a token is its person's own, in the party it was made in
        return (ApiToken.user_id == actor.user_id) & (ApiToken.party_id == actor.party_id)
    if model is Invitation:
        return Invitation.party_id.in_(_visible_party_ids(actor)) if hoster_only else false()
    if model is Membership:
        return Membership.party_id.in_(_visible_party_ids(actor)) if hoster_only else false()
    raise TypeError(f"{model.__name__} has no tenant scope")


def scoped(model: type[M], actor: Actor) -> Select[tuple[M]]:
    """``SELECT model`` restricted to what ``actor`` may see. The only way to read tenant data."""
    return select(model).where(_criterion(model, actor))


def get_scoped(model: type[M], object_id: Any, actor: Actor) -> M:
    """One object by id within the actor's scope, or :class:`NotFound`."""
    try:
        key = int(object_id)
    except (TypeError, ValueError) as exc:
        raise NotFound(model.__name__) from exc
    found = db.session.scalars(
        scoped(model, actor).where(model.id == key)  # type: ignore[attr-defined]
    ).first()
    if found is None:
        raise NotFound(model.__name__)
    return found
