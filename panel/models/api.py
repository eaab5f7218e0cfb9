"""API tokens: a person's key for scripts, bound to one of their parties and seeing exactly
what that person sees there."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel.extensions import db
from panel.models.base import UTCDateTime, created_at_column
from panel.models.party import Party, User


class ApiToken(db.Model):
    """One token of one person in one party. Only a SHA-256 of the secret is kept (the
    secret is 32 random bytes, so a fast hash is enough); ``prefix`` lets people tell their
    tokens apart. A revoked token stays, so the audit log can still name it."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("party.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = created_at_column()
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()
    party: Mapped[Party] = relationship()
