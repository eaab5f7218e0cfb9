"""Clients (owners) and builders of a hoster, and their out-of-band contacts."""

from __future__ import annotations

import secrets
from urllib.parse import urlparse

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _

from panel.extensions import db
from panel.models import Contact, ContactKind, Party, PartyKind
from panel.services import audit, records
from panel.services.errors import ServiceError
from panel.services.scope import Actor

LANGUAGES = ("en", "nl")
WEBHOOK_FORMATS = ("json", "slack")


def _require_hoster(actor: Actor) -> None:
    if not actor.is_hoster:
        raise ServiceError(_("Only the hoster can do this."))


def create_party(actor: Actor, kind: str, name: str, language: str) -> Party:
    """A new client (owner) or builder in the hoster's tenancy."""
    _require_hoster(actor)
    if kind not in (PartyKind.BUILDER, PartyKind.OWNER):
        raise ServiceError(_("A party is a builder or a client."))
    party = Party(kind=kind, name=name.strip(), language=language, hoster_id=actor.tenant_id)
    return records.create(actor, party, f"{kind} {party.name} created", _("That name is taken."))


def update_party(actor: Actor, party: Party, name: str, language: str) -> Party:
    _require_hoster(actor)
    return records.update(
        actor,
        party,
        {"name": name.strip(), "language": language},
        f"{party.kind} {name.strip()} changed",
        _("That name is taken."),
    )


def normalise_contact(kind: str, value: str) -> str:
    """A clean contact value, or a ServiceError saying what is wrong with it."""
    value = value.strip()
    if kind == ContactKind.EMAIL:
        try:
            return validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ServiceError(_("Not a usable email address: %(reason)s", reason=exc)) from exc
    if kind == ContactKind.WEBHOOK:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ServiceError(_("A webhook needs a full http:// or https:// URL."))
        return value
    raise ServiceError(_("A contact is an email address or a webhook URL."))


def add_contact(
    actor: Actor,
    party: Party,
    kind: str,
    value: str,
    label: str,
    webhook_format: str = "json",
) -> Contact:
    """Add an out-of-band contact; the hoster or the party itself may do so.

    ``webhook_format`` is what a webhook is posted ("json": Onus's document, "slack": the
    text message Slack and Mattermost take); an email address keeps "json", unused."""
    if not actor.is_hoster and actor.party_id != party.id:
        raise ServiceError(_("You can only change your own contacts."))
    if webhook_format not in WEBHOOK_FORMATS:
        raise ServiceError(_("A webhook's format is JSON or Slack / Mattermost."))
    contact = Contact(
        party_id=party.id,
        kind=kind,
        value=normalise_contact(kind, value),
        label=label.strip(),
        webhook_format=webhook_format if kind == ContactKind.WEBHOOK else "json",
        secret=new_secret() if kind == ContactKind.WEBHOOK else None,
    )
    summary = f"Contact {contact.value} added to {party.name}"
    if kind == ContactKind.WEBHOOK:
        summary += f" ({contact.webhook_format})"
    return records.create(actor, contact, summary, _("Contact not saved."))


def new_secret() -> str:
    """A webhook's signing key: 256 random bits, as the 64 hex digits the column holds."""
    return secrets.token_hex(32)


def webhook_secret(contact: Contact) -> str:
    """The key a webhook's posts are signed under. A webhook without one (written straight
    into the database, say) gets one before its first post, saved at once: the receiver
    must be able to check that post, and every later one, against the key the party sees."""
    if contact.secret is None:
        contact.secret = new_secret()
        db.session.commit()
    return contact.secret


def renew_secret(actor: Actor, contact: Contact) -> Contact:
    """A new signing key for one of the party's own webhooks (the old one leaked, or is
    rotated): posts are signed under the new key from now on. Audited without either key."""
    if actor.party_id != contact.party_id:
        raise ServiceError(_("You can only change your own contacts."))
    if contact.kind != ContactKind.WEBHOOK:
        raise ServiceError(_("Only a webhook has a signing key."))
    contact.secret = new_secret()
    audit.record(
        actor,
        "update",
        contact,
        f"Webhook key renewed for {contact.value} of {contact.party.name}",
        None,
        None,
    )
    db.session.commit()
    return contact


def remove_contact(actor: Actor, contact: Contact) -> None:
    if not actor.is_hoster and actor.party_id != contact.party_id:
        raise ServiceError(_("You can only change your own contacts."))
    records.delete(
        actor,
        contact,
        f"Contact {contact.value} removed from {contact.party.name}",
        _("Contact not removed."),
    )
