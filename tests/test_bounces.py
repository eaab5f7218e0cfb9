"""Reading bounces: Postfix's RFC 3464 reports, Exim's and qmail's plain-text ones, and
anything else (ordinary mail, junk) without ever raising."""

from __future__ import annotations

import email
import logging
import random
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from panel.services.bounces import Bounce, parse_bounce
from panel.services.channels import verp_address
from tests.conftest import DatabaseStates, close_app, make_app

EMAIL_PACKAGE = str(Path(email.__file__).parent)


@pytest.fixture
def panel(database: DatabaseStates) -> Iterator[Flask]:
    app = make_app(database, ONUS_BOUNCE_ADDRESS="bounces@example.net")
    with app.app_context():
        yield app
    close_app(app)


def postfix_dsn(
    to: str,
    action: str = "failed",
    status: str = "5.2.2",
    diagnostic: str = "smtp; 552 5.2.2 Mailbox full",
) -> bytes:
    """A delivery status notification as Postfix writes it, for a warning sent from ``to``."""
    subject = "Undelivered Mail Returned to Sender"
    if action == "delayed":
        subject = "Delayed Mail (still being retried)"
    return f"""\
Return-Path: <>
Delivered-To: {to}
Received: by mx.example.net (Postfix) id 5DEF2C0A1F; Tue, 14 May 2024 09:12:04 +0200 (CEST)
Date: Tue, 14 May 2024 09:12:03 +0200 (CEST)
From: MAILER-DAEMON@mail.school.example (Mail Delivery System)
Subject: {subject}
To: {to}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="4ABC1234.1715670723/mail.school.example"
Content-Transfer-Encoding: 8bit
Message-Id: <20240514071203.5DEF2C0A1F@mail.school.example>

This is a MIME-encapsulated message.

--4ABC1234.1715670723/mail.school.example
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mail.school.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<info@school.example>: host mail.school.example[private/dovecot-lmtp] said:
    552 5.2.2 <info@school.example> Mailbox is full / Quota exceeded (in reply
    to end of DATA command)

--4ABC1234.1715670723/mail.school.example
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.school.example
X-Postfix-Queue-ID: 4ABC1234
X-Postfix-Sender: rfc822; {to}
Arrival-Date: Tue, 14 May 2024 09:12:02 +0200 (CEST)

Final-Recipient: rfc822; info@school.example
Original-Recipient: rfc822;info@school.example
Action: {action}
Status: {status}
Remote-MTA: dns; mail.school.example
Diagnostic-Code: {diagnostic}

--4ABC1234.1715670723/mail.school.example
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

Return-Path: <{to}>
Received: from panel.example.net (panel.example.net [203.0.113.5])
\tby mail.school.example (Postfix) with ESMTPS id 4ABC1234
\tfor <info@school.example>; Tue, 14 May 2024 09:12:02 +0200 (CEST)
From: Onus <onus@example.net>
To: info@school.example
Subject: Mailbox info@school.example is 97 % full
Message-ID: <notification-42@example.net>
Auto-Submitted: auto-generated

--4ABC1234.1715670723/mail.school.example--
""".replace("\n", "\r\n").encode()


EXIM_BOUNCE = b"""\
Return-path: <>
Envelope-to: {to}
From: Mail Delivery System <Mailer-Daemon@mx.school.example>
To: {to}
Subject: Mail delivery failed: returning message to sender
Auto-Submitted: auto-replied
X-Failed-Recipients: info@school.example
Message-Id: <E1s6nXy-0003Qx-2b@mx.school.example>
Date: Tue, 14 May 2024 09:12:03 +0200

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  info@school.example
    host mail.school.example [198.51.100.25]
    SMTP error from remote mail server after RCPT TO:<info@school.example>:
    552 5.2.2 Mailbox full

------ This is a copy of the message, including all the headers. ------

Return-path: <{to}>
From: Onus <onus@example.net>
To: info@school.example
Subject: Mailbox info@school.example is 97 % full

Reply with 250 2.0.0 if you like; it is the returned message, not the report.
"""

EXIM_DELAY = b"""\
From: Mail Delivery System <Mailer-Daemon@mx.school.example>
To: {to}
Subject: Warning: message 1s6nXy-0003Qx-2b delayed 24 hours
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.
A message that you sent has not yet been delivered to one or more of its
recipients after more than 24 hours on the queue on mx.school.example.

The address to which the message has not yet been delivered is:

  info@school.example
    host mail.school.example [198.51.100.25]
    Delay reason: SMTP error from remote mail server after RCPT TO:<info@school.example>:
    452 4.2.2 Mailbox full

No action is required on your part. Delivery attempts will continue for
some time, and this warning may be repeated at intervals if the message
remains undelivered. Eventually the mail delivery software will give up,
and when that happens, the message will be returned to you.
"""

QMAIL_BOUNCE = b"""\
Return-Path: <>
Delivered-To: {to}
From: MAILER-DAEMON@mail.school.example
To: {to}
Subject: failure notice

Hi. This is the qmail-send program at mail.school.example.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<info@school.example>:
198.51.100.25 does not like recipient.
Remote host said: 552 Sorry, mailbox full
Giving up on 198.51.100.25.

--- Below this line is a copy of the message.

Return-Path: <{to}>
From: Onus <onus@example.net>
To: info@school.example
Subject: Mailbox info@school.example is 97 % full
"""

ORDINARY_MAIL = b"""\
From: Owner <info@school.example>
To: bounces@example.net
Subject: Re: Mailbox info@school.example is 97 % full
Content-Type: text/plain; charset=utf-8

Thanks, we deleted the old newsletters. Our server said 552 5.2.2 yesterday.
"""


def plain(template: bytes, to: str) -> bytes:
    return template.replace(b"{to}", to.encode())


@pytest.mark.parametrize(
    ("form", "status", "diagnostic"),
    [
        ("postfix", "5.2.2", "552 5.2.2 Mailbox full"),
        ("exim", "5.2.2", "552 5.2.2 Mailbox full"),
        ("qmail", "552", "Remote host said: 552 Sorry, mailbox full"),
    ],
)
def test_a_bounce_in_each_common_form(
    panel: Flask, form: str, status: str, diagnostic: str
) -> None:
    """RFC 3464 as Postfix writes it, and the plain-text forms of Exim and qmail."""
    to = verp_address(42)
    raw = {
        "postfix": lambda: postfix_dsn(to),
        "exim": lambda: plain(EXIM_BOUNCE, to),
        "qmail": lambda: plain(QMAIL_BOUNCE, to),
    }[form]()
    assert parse_bounce(raw) == Bounce(
        notification_id=42,
        recipient="info@school.example",
        status=status,
        action="failed",
        diagnostic=diagnostic,
        permanent=True,
    )


def test_the_envelope_recipient_comes_first(panel: Flask) -> None:
    raw = postfix_dsn(verp_address(42))
    unsigned = parse_bounce(raw, envelope_recipient="bounces@example.net")
    signed = parse_bounce(raw, envelope_recipient=f"<{verp_address(7)}>")
    assert unsigned is not None
    assert signed is not None
    assert (unsigned.notification_id, signed.notification_id) == (42, 7)


def test_a_forged_verp_address_gives_no_notification(panel: Flask) -> None:
    forged = verp_address(42).replace("n42-", "n41-")
    bounce = parse_bounce(postfix_dsn(forged), envelope_recipient=forged)
    assert bounce is not None
    assert bounce.notification_id is None
    assert bounce.permanent


def test_without_a_diagnostic_code_the_server_line_is_used(panel: Flask) -> None:
    raw = postfix_dsn(verp_address(42)).replace(
        b"Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\r\n", b""
    )
    bounce = parse_bounce(raw)
    assert bounce is not None
    assert bounce.diagnostic.startswith("552 5.2.2 <info@school.example> Mailbox is full")
    assert bounce.status == "5.2.2"


def test_a_delayed_dsn_is_not_permanent(panel: Flask) -> None:
    raw = postfix_dsn(
        verp_address(42),
        action="delayed",
        status="4.2.2",
        diagnostic="smtp; 452 4.2.2 Mailbox full, try again later",
    )
    bounce = parse_bounce(raw)
    assert bounce is not None
    assert (bounce.notification_id, bounce.action, bounce.status) == (42, "delayed", "4.2.2")
    assert bounce.diagnostic == "452 4.2.2 Mailbox full, try again later"
    assert not bounce.permanent


def test_exim_delay_warning(panel: Flask) -> None:
    bounce = parse_bounce(plain(EXIM_DELAY, verp_address(42)))
    assert bounce is not None
    assert (bounce.notification_id, bounce.recipient) == (42, "info@school.example")
    assert (bounce.action, bounce.status, bounce.permanent) == ("delayed", "4.2.2", False)
    assert bounce.diagnostic == "452 4.2.2 Mailbox full"


@pytest.mark.parametrize(
    "raw",
    [
        ORDINARY_MAIL,
        b"",
        b"\n\n",
        b"not a mail at all",
        b"\xff\xfe\x00junk\x80\x81",
        b'Content-Type: multipart/report; report-type=disposition-notification; boundary="x"\n\n'
        b"--x\nContent-Type: message/disposition-notification\n\nDisposition: displayed\n--x--\n",
    ],
)
def test_what_is_not_a_bounce(panel: Flask, raw: bytes) -> None:
    assert parse_bounce(raw) is None


def test_any_input_never_raises(panel: Flask, caplog: pytest.LogCaptureFixture) -> None:
    """Truncations, random bytes, invalid UTF-8 and mangled headers: a Bounce or None, never
    an exception. What the stdlib's parser itself cannot read is logged and skipped; any
    other error in the log would be ours."""
    rng = random.Random(3464)
    valid = [
        postfix_dsn(verp_address(42)),
        plain(EXIM_BOUNCE, verp_address(42)),
        plain(QMAIL_BOUNCE, verp_address(42)),
    ]
    inputs = [raw[:end] for raw in valid for end in range(0, len(raw), 97)]
    inputs += [rng.randbytes(rng.randrange(1, 4096)) for _ in range(200)]
    inputs.append(rng.randbytes(1 << 20))
    splices = [b"\xff", b"\xc3\x28", b"\x00", b"\r", b"\n\n", b";", b"*", b"'", b"=", b'"', b"<"]
    splices += [b"=?utf-8?q?=FF?=", b"; charset*=x''%ff", b"; charset=bogus", b"--"]
    for _ in range(2000):
        raw = bytearray(rng.choice(valid))
        for _ in range(rng.randint(1, 12)):
            at = rng.randrange(len(raw))
            if rng.random() < 0.5:
                raw[at : at + rng.randint(0, 20)] = rng.choice(splices)
            else:
                raw[at] = rng.randrange(256)
        inputs.append(bytes(raw))

    with caplog.at_level(logging.WARNING, logger="panel.services.bounces"):
        for raw in inputs:
            result = parse_bounce(raw, envelope_recipient=rng.choice([None, "", "junk", "<>"]))
            assert result is None or isinstance(result, Bounce)
    for record in caplog.records:
        assert record.exc_info is not None
        where = traceback.extract_tb(record.exc_info[2])[-1].filename
        assert where.startswith(EMAIL_PACKAGE), "".join(
            traceback.format_exception(*record.exc_info)
        )
