"""Sending mail over SMTP, rendered in the recipient's language."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from panel.extensions import db
from panel.models import Invitation


def send_mail(to: str, subject: str, text: str, html: str | None = None) -> str:
    """Hand one message to the configured SMTP server; returns its Message-ID."""
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["ONUS_MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=config["ONUS_MAIL_FROM"].rpartition("@")[2] or None)
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    with smtplib.SMTP(config["ONUS_MAIL_SERVER"], config["ONUS_MAIL_PORT"], timeout=30) as smtp:
        if config["ONUS_MAIL_STARTTLS"]:
            smtp.starttls()
        if config["ONUS_MAIL_USERNAME"]:
            smtp.login(config["ONUS_MAIL_USERNAME"], config["ONUS_MAIL_PASSWORD"])
        smtp.send_message(message)
    return str(message["Message-ID"])


def send_invitation_mail(invitation_id: int, link: str) -> str:
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.accepted_at is not None:
        return "skipped"
    with force_locale(invitation.party.language):
        context = {"invitation": invitation, "link": link}
        subject = _("You are invited to Onus for %(party)s", party=invitation.party.name)
        text = render_template("emails/invitation.txt", **context)
        html = render_template("emails/invitation.html", **context)
    return send_mail(invitation.email, subject, text, html)
