"""Inviting a person into a builder's or owner's party by a signed, expiring, one-time link."""

from __future__ import annotations

from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from panel.extensions import db
from panel.models import Invitation, Membership, Party, User
from panel.models.base import utcnow
from panel.services import audit
from panel.services.accounts import authenticate, find_user, hash_password, normalise_email
from panel.services.errors import ServiceError
from panel.services.scope import Actor

_SALT = "onus-invitation"


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=_SALT)


def invite(
    actor: Actor, party: Party, email: str, name: str, secret_key: str
) -> tuple[Invitation, str]:
    """Record an invitation for ``email`` into ``party``; returns it and its signed token."""
    invitation = Invitation(
        party_id=party.id,
        email=normalise_email(email),
        name=name.strip(),
        invited_by_id=actor.user_id,
    )
    db.session.add(invitation)
    db.session.flush()
    audit.record(
        actor,
        "invite",
        invitation,
        f"{invitation.email} invited to {party.name}",
        None,
        audit.snapshot(invitation),
    )
    db.session.commit()
    return invitation, _serializer(secret_key).dumps(invitation.id)


def pending_invitation(token: str, secret_key: str, max_age: int) -> Invitation:
    """The open invitation behind ``token``; a clear ServiceError when it cannot be used."""
    try:
        invitation_id = _serializer(secret_key).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise ServiceError(_("This invitation link has expired. Ask for a new one.")) from exc
    except BadSignature as exc:
        raise ServiceError(_("This invitation link is not valid.")) from exc
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None:
        raise ServiceError(_("This invitation link is not valid."))
    if invitation.accepted_at is not None:
        raise ServiceError(_("This invitation has been used already. Log in instead."))
    return invitation


def accept(token: str, secret_key: str, max_age: int, name: str, password: str) -> User:
    """Join the party: a new person sets a password; a known person's password must match."""
    invitation = pending_invitation(token, secret_key, max_age)
    user = find_user(invitation.email)
    if user is None:
        user = User(
            email=invitation.email,
            name=name.strip() or invitation.name,
            language=invitation.party.language,
            password_hash=hash_password(password),
        )
        db.session.add(user)
        db.session.flush()
    elif user.password_hash is None:
        user.password_hash = hash_password(password)
    elif authenticate(user.email, password) is None:
        raise ServiceError(_("You have an account already: enter its password to join."))
    already = db.session.scalars(
        select(Membership).where(
            Membership.user_id == user.id, Membership.party_id == invitation.party_id
        )
    ).first()
    if already is None:
        db.session.add(Membership(user_id=user.id, party_id=invitation.party_id))
    invitation.accepted_at = utcnow()
    actor = Actor.for_membership(user, invitation.party)
    audit.record(
        actor,
        "accept",
        invitation,
        f"{user.email} joined {invitation.party.name}",
        None,
        {"user_id": user.id, "party_id": invitation.party_id},
    )
    db.session.commit()
    return user
