"""People: password hashing, logging in, and the parties a person can act for."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import gettext as _
from sqlalchemy import func, select

from panel.extensions import db
from panel.models import Membership, Party, PartyKind, User
from panel.models.base import utcnow
from panel.services import audit
from panel.services.errors import ServiceError
from panel.services.scope import Actor

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 10
# A real hash to verify against when the email is unknown, so timing does not tell.
_DUMMY_HASH = _hasher.hash("onus-timing-equaliser")


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError(
            _("A password needs at least %(num)s characters.", num=MIN_PASSWORD_LENGTH)
        )
    return _hasher.hash(password)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user(email: str) -> User | None:
    return db.session.scalars(
        select(User).where(func.lower(User.email) == normalise_email(email))
    ).first()


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, or None. Rehashes outdated hashes."""
    user = find_user(email)
    stored = user.password_hash if user and user.password_hash else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.password_hash or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    db.session.commit()
    return user


def parties_of(user: User) -> list[Party]:
    """The parties a person may act for, hosters first."""
    order = {PartyKind.HOSTER: 0, PartyKind.BUILDER: 1, PartyKind.OWNER: 2}
    parties = [m.party for m in user.memberships]
    return sorted(parties, key=lambda p: (order.get(PartyKind(p.kind), 9), p.name.lower()))


def actor_for(user: User, party_id: int | None) -> Actor | None:
    """The actor for ``user`` in party ``party_id`` (or its first party) if a member."""
    parties = parties_of(user)
    if not parties:
        return None
    chosen = next((p for p in parties if p.id == party_id), parties[0])
    return Actor.for_membership(user, chosen)


def create_hoster(name: str, email: str, password: str | None, language: str = "en") -> User:
    """A new hoster tenancy with its first person (used by the CLI and first start)."""
    if find_user(email):
        raise ServiceError(_("A person with the address %(email)s exists already.", email=email))
    hoster = Party(kind=PartyKind.HOSTER, name=name, language=language)
    user = User(
        email=normalise_email(email),
        name=name,
        language=language,
        password_hash=hash_password(password) if password else None,
    )
    db.session.add_all([hoster, user])
    db.session.flush()
    db.session.add(Membership(user_id=user.id, party_id=hoster.id))
    actor = Actor.for_membership(user, hoster)
    audit.record(actor, "create", hoster, f"Hoster {name} created", None, audit.snapshot(hoster))
    db.session.commit()
    return user


def change_preferences(user: User, language: str, timezone: str) -> None:
    user.language = language
    user.timezone = timezone
    db.session.commit()


def change_password(user: User, current: str, new: str) -> None:
    if not user.password_hash or authenticate(user.email, current) is None:
        raise ServiceError(_("The current password is not right."))
    user.password_hash = hash_password(new)
    db.session.commit()
