"""API tokens: made and revoked by a person in the panel (audited), shown once, kept only as
a hash, and turned back into the person's :class:`Actor` on every API or metrics request —
so a script sees exactly what its person sees in that party, through the same scope."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select

from panel.extensions import db
from panel.models import ApiToken, Membership, User
from panel.services import audit, records
from panel.services.errors import ServiceError
from panel.services.scope import Actor, scoped

PREFIX = "onus_"
# last_used_at is written at most this often per token: reading the API must not mean a
# write for every request
USE_GRANULARITY = timedelta(minutes=1)


@dataclass(frozen=True)
class Caller:
    """Who a valid token speaks for."""

    actor: Actor
    user: User
    token: ApiToken


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def tokens_of(actor: Actor) -> list[ApiToken]:
    """The actor's own tokens in the party it acts for, newest first."""
    return list(db.session.scalars(scoped(ApiToken, actor).order_by(ApiToken.id.desc())))


def create(actor: Actor, name: str) -> tuple[ApiToken, str]:
    """A new token for the actor in its party; returns it with its secret, which is shown
    this once and never again."""
    name = name.strip()
    if not name:
        raise ServiceError(_("Give the token a name, so you know later what uses it."))
    raw = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=actor.user_id,
        party_id=actor.party_id,
        name=name[:100],
        prefix=raw[: len(PREFIX) + 6],
        token_hash=_digest(raw),
    )
    records.create(
        actor, token, f"API token {token.name} ({token.prefix}…) created", _("Token not saved.")
    )
    return token, raw


def revoke(actor: Actor, token: ApiToken, now: datetime) -> ApiToken:
    """Stop a token from working (audited); revoking twice changes nothing."""
    if token.user_id != actor.user_id or token.party_id != actor.party_id:
        raise ServiceError(_("You can only revoke your own tokens."))
    if token.revoked_at is not None:
        return token
    before = audit.snapshot(token)
    token.revoked_at = now
    audit.record(
        actor,
        "revoke",
        token,
        f"API token {token.name} ({token.prefix}…) revoked",
        before,
        audit.snapshot(token),
    )
    db.session.commit()
    return token


def authenticate(raw: str, now: datetime) -> Caller | None:
    """The caller a presented token speaks for; None when it is unknown, revoked, or its
    person left the party or was deactivated."""
    if not raw.startswith(PREFIX) or len(raw) > 200:
        return None
    token = db.session.scalars(select(ApiToken).where(ApiToken.token_hash == _digest(raw))).first()
    if token is None or token.revoked_at is not None or not token.user.active:
        return None
    member = db.session.scalars(
        select(Membership).where(
            Membership.user_id == token.user_id, Membership.party_id == token.party_id
        )
    ).first()
    if member is None:
        return None
    if token.last_used_at is None or now - token.last_used_at >= USE_GRANULARITY:
        token.last_used_at = now
        db.session.commit()
    return Caller(Actor.for_membership(token.user, token.party), token.user, token)
