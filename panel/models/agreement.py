"""Terms templates and agreements: who answers for what, in writing, acknowledged.

Nothing here is ever updated or deleted: a change is a new version (the ORM refuses
updates and deletes, like the audit log).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel.extensions import db
from panel.models.base import UTCDateTime, created_at_column
from panel.models.hosting import Package
from panel.models.party import Party, User


class TermsTemplate(db.Model):
    """One version of a hoster's terms: text in English and Dutch, matrix, levels, grace."""

    __tablename__ = "terms_template"
    __table_args__ = (UniqueConstraint("hoster_id", "name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hoster_id: Mapped[int] = mapped_column(ForeignKey("party.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    text_en: Mapped[str] = mapped_column(Text)
    text_nl: Mapped[str] = mapped_column(Text)
    matrix: Mapped[dict[str, Any]] = mapped_column(JSON)
    thresholds: Mapped[dict[str, int]] = mapped_column(JSON)
    deadlines: Mapped[dict[str, int]] = mapped_column(JSON)
    grace: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = created_at_column()
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class Agreement(db.Model):
    """One version of a package's agreement, with everything it says filled in."""

    __tablename__ = "agreement"
    __table_args__ = (UniqueConstraint("package_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("package.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    template_id: Mapped[int] = mapped_column(ForeignKey("terms_template.id"))
    reason: Mapped[str] = mapped_column(String(200))
    text_en: Mapped[str] = mapped_column(Text)
    text_nl: Mapped[str] = mapped_column(Text)
    matrix: Mapped[dict[str, Any]] = mapped_column(JSON)
    thresholds: Mapped[dict[str, int]] = mapped_column(JSON)
    deadlines: Mapped[dict[str, int]] = mapped_column(JSON)
    grace: Mapped[dict[str, Any]] = mapped_column(JSON)
    limits: Mapped[dict[str, int]] = mapped_column(JSON)
    parties: Mapped[dict[str, int]] = mapped_column(JSON)  # role -> party id
    party_names: Mapped[dict[str, str]] = mapped_column(JSON)  # role -> name, as agreed
    created_at: Mapped[datetime] = created_at_column()
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    package: Mapped[Package] = relationship()
    template: Mapped[TermsTemplate] = relationship()
    acknowledgements: Mapped[list[Acknowledgement]] = relationship(
        back_populates="agreement", order_by="Acknowledgement.id"
    )


class Acknowledgement(db.Model):
    """A party's acknowledgement of one agreement version: the exact text it saw."""

    __tablename__ = "acknowledgement"
    __table_args__ = (UniqueConstraint("agreement_id", "party_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"), index=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("party.id"))
    role: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    address: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    text_hash: Mapped[str] = mapped_column(String(64))

    agreement: Mapped[Agreement] = relationship(back_populates="acknowledgements")
    party: Mapped[Party] = relationship()
    user: Mapped[User] = relationship()


class HistoryImmutableError(RuntimeError):
    """Raised when code tries to change or remove an agreement, template or acknowledgement."""


def _refuse(*_: object) -> None:
    raise HistoryImmutableError("agreements, terms and acknowledgements are never changed")


for _model in (TermsTemplate, Agreement, Acknowledgement):
    event.listen(_model, "before_update", _refuse)
    event.listen(_model, "before_delete", _refuse)
