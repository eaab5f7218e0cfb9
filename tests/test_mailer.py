"""Which SMTP failures are worth retrying: no connection or 4xx, never a 5xx refusal."""

from __future__ import annotations

import smtplib

import pytest

from panel.services.mailer import is_transient


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (ConnectionRefusedError(111, "Connection refused"), True),
        (TimeoutError("timed out"), True),
        (smtplib.SMTPServerDisconnected("gone"), True),
        (smtplib.SMTPConnectError(421, b"busy"), True),
        (smtplib.SMTPDataError(451, b"try later"), True),
        (smtplib.SMTPDataError(554, b"rejected"), False),
        (smtplib.SMTPSenderRefused(553, b"no such sender", "onus@localhost"), False),
        (smtplib.SMTPRecipientsRefused({"a@x.example": (452, b"mailbox full, try later")}), True),
        (smtplib.SMTPRecipientsRefused({"a@x.example": (550, b"no such user")}), False),
        (
            smtplib.SMTPRecipientsRefused(
                {"a@x.example": (452, b"later"), "b@x.example": (550, b"no")}
            ),
            False,
        ),
        (smtplib.SMTPNotSupportedError("no STARTTLS"), False),
    ],
)
def test_is_transient(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient
