"""Sending mail over SMTP, rendered in the recipient's language."""

from __future__ import annotations

import smtplib
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from panel.extensions import db
from panel.models import Invitation
from panel.services.channels import WebhookError


def send_mail(
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    *,
    message_id: str | None = None,
    envelope_from: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> str:
    """Hand one message to the configured SMTP server; returns its Message-ID.

    ``message_id`` (with its angle brackets) replaces a fresh one, so a resend is recognised
    as the same message; ``envelope_from`` is the SMTP MAIL FROM, where bounces go (the
    Return-Path), when it is not the From address; ``headers`` are added as given.
    """
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["ONUS_MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    domain = parseaddr(config["ONUS_MAIL_FROM"])[1].rpartition("@")[2]
    message["Message-ID"] = message_id or make_msgid(domain=domain or None)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    with smtplib.SMTP(config["ONUS_MAIL_SERVER"], config["ONUS_MAIL_PORT"], timeout=30) as smtp:
        if config["ONUS_MAIL_STARTTLS"]:
            smtp.starttls()
        if config["ONUS_MAIL_USERNAME"]:
            smtp.login(config["ONUS_MAIL_USERNAME"], config["ONUS_MAIL_PASSWORD"])
        smtp.send_message(message, from_addr=envelope_from)
    return str(message["Message-ID"])


def is_transient(exc: BaseException) -> bool:
    """Whether a failed hand-off may succeed later: no connection, or a 4xx reply; for a
    webhook, what its error says (a timeout or 5xx yes, a 404 no).

    A 5xx reply (unknown recipient, refused sender) will be refused again; retrying only
    delays the moment someone sees it.
    """
    if isinstance(exc, WebhookError):
        return exc.transient
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _msg in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    # SMTPException is an OSError too: any other SMTP-level error is the server's answer
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)


def _render(template: str, **context: Any) -> str:
    """A mail template, without the web's context processors: a worker has no request (and no
    logged-in user) for them, and a mail has no use for the layout's navigation."""
    return current_app.jinja_env.get_template(template).render(**context)


def send_invitation_mail(invitation_id: int, link: str) -> str:
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.accepted_at is not None:
        return "skipped"
    with force_locale(invitation.party.language):
        context = {"invitation": invitation, "link": link}
        subject = _("You are invited to Onus for %(party)s", party=invitation.party.name)
        text = _render("emails/invitation.txt", **context)
        html = _render("emails/invitation.html", **context)
    return send_mail(invitation.email, subject, text, html)
