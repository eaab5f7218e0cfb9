"""Send one short test message to a party's own contact, at once, and say what happened.

The message goes the way a warning would (email through the configured SMTP server, a
webhook through the same checked sender, signed the same way), in the party's language.
Nothing but the audit log changes (and a webhook without a signing key gets one): no
notification, no alert. The outcome is told in the viewer's language, with a refusal's
status code explained in plain words.
"""

from __future__ import annotations

import secrets
import smtplib
from dataclasses import dataclass

from flask import current_app
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _

from panel.extensions import db
from panel.mailflow.codes import explain
from panel.models import Contact, ContactKind
from panel.services import audit
from panel.services.channels import WebhookError, post_webhook
from panel.services.errors import ServiceError
from panel.services.mailer import send_mail
from panel.services.parties import webhook_secret
from panel.services.scope import Actor


@dataclass(frozen=True)
class TestOutcome:
    """``result`` is "sent", "refused" or "unreachable"; ``words`` says it to the viewer."""

    result: str
    words: str

    @property
    def sent(self) -> bool:
        return self.result == "sent"


def _message(contact: Contact) -> tuple[str, str]:
    """Subject and text of the test message, in the contact's party's language."""
    party = contact.party
    with force_locale(party.language or "en"):
        subject = _("Onus test message for %(party)s", party=party.name)
        text = _(
            "This is a test message from Onus. Warnings about the storage of the packages of "
            "%(party)s will reach you here. You do not need to do anything.",
            party=party.name,
        )
    return subject, text


def _viewer_language() -> str:
    locale = get_locale()
    return locale.language if locale is not None else "en"


def _refused(reply: str) -> str:
    explained = explain(reply, _viewer_language())
    why = f"{explained.code}: {explained.words}" if explained else reply
    return why


def _send_email(contact: Contact, subject: str, text: str) -> TestOutcome:
    config = current_app.config
    server = f"{config['ONUS_MAIL_SERVER']}:{config['ONUS_MAIL_PORT']}"
    try:
        send_mail(contact.value, subject, text)
    except smtplib.SMTPRecipientsRefused as exc:
        code, reply = next(iter(exc.recipients.values()))
        said = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        text_reply = f"{code} {said}"
        return TestOutcome(
            "refused",
            _(
                "The mail server %(server)s refused the test message to %(address)s: %(why)s",
                server=server,
                address=contact.value,
                why=_refused(text_reply),
            ),
        )
    except smtplib.SMTPResponseException as exc:
        error = exc.smtp_error
        reply = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
        return TestOutcome(
            "refused",
            _(
                "The mail server %(server)s refused the test message to %(address)s: %(why)s",
                server=server,
                address=contact.value,
                why=_refused(f"{exc.smtp_code} {reply}"),
            ),
        )
    except (OSError, smtplib.SMTPException) as exc:
        return TestOutcome(
            "unreachable",
            _(
                "Onus could not connect to its mail server %(server)s (%(error)s): the test "
                "message was not sent. Tell your hoster.",
                server=server,
                error=type(exc).__name__,
            ),
        )
    return TestOutcome(
        "sent",
        _(
            "A test message was handed to the mail server for %(address)s. If it does not "
            "arrive within a few minutes, look in the spam folder.",
            address=contact.value,
        ),
    )


def _send_webhook(contact: Contact, subject: str, text: str) -> TestOutcome:
    document = {
        "event": "test",
        "type": "test",
        "party": contact.party.name,
        "subject": subject,
        "text": text,
    }
    try:
        status = post_webhook(
            contact.value,
            document,
            contact.webhook_format,
            secret=webhook_secret(contact),
            delivery=f"test-{secrets.token_hex(8)}",  # no notification: each test is new
        )
    except WebhookError as exc:
        return TestOutcome(
            "unreachable" if exc.transient else "refused",
            _(
                "The test message was not delivered to %(url)s: %(reason)s",
                url=contact.value,
                reason=exc.reason,
            ),
        )
    return TestOutcome(
        "sent",
        _(
            "The webhook %(url)s took the test message (HTTP %(status)s).",
            url=contact.value,
            status=status,
        ),
    )


def send_test(actor: Actor, contact: Contact) -> TestOutcome:
    """Send the test message to one of the actor's party's own contacts, synchronously, and
    record in the audit log that it was sent and what became of it."""
    if contact.party_id != actor.party_id:
        raise ServiceError(_("You can only test your own contacts."))
    subject, text = _message(contact)
    if contact.kind == ContactKind.WEBHOOK:
        outcome = _send_webhook(contact, subject, text)
    else:
        outcome = _send_email(contact, subject, text)
    audit.record(
        actor,
        "test",
        contact,
        f"Test message to {contact.value} ({contact.kind}): {outcome.result}",
        None,
        {"result": outcome.result, "detail": outcome.words[:300]},
    )
    db.session.commit()
    return outcome
