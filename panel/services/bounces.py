"""Reading the bounces of the mails Onus sent: which notification bounced, for which recipient,
and whether for good — a bounced warning must escalate, a delay notice must not.

Standard delivery status notifications (RFC 3464) first; then the plain-text reports of
Exim and qmail. Anything else is not a bounce (None); no input makes this raise.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from email import message_from_bytes, policy
from email.message import EmailMessage, Message

from panel.services.channels import notification_of

_ENHANCED_CODE = re.compile(r"(?<![\d.])[245]\.\d{1,3}\.\d{1,3}(?!\.?\d)")  # e.g. 5.2.2
_REPLY_CODE = re.compile(r"(?<![\w.])[245]\d\d(?![\w.])")  # e.g. 552
# a line holding nothing but an address: how Exim ("  a@b") and qmail ("<a@b>:") list them
_ADDRESS_LINE = re.compile(r"^[ \t]*<?([^\s<>@]+@[^\s<>:]+)>?:?[ \t]*$", re.MULTILINE)
# where the plain-text report ends and the returned message (with codes of its own) begins
_RETURNED_COPY = re.compile(r"^-{2,}.*(?:copy of the message|below this line)", re.I | re.M)
_TOKEN_SEPARATORS = re.compile(r"[\s<>,;\"'()]+")
_EXIM = "This message was created automatically by mail delivery software"
_QMAIL = "This is the qmail-send program"
_VERP_HEADERS = {"to", "delivered-to", "x-original-to", "envelope-to"}

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bounce:
    """What a bounce says about one message Onus sent."""

    # from the VERP address: the envelope recipient, else To / Delivered-To / X-Original-To /
    # Envelope-To
    notification_id: int | None
    recipient: str | None  # the failed recipient (Final-Recipient / Original-Recipient)
    # enhanced status code, e.g. "5.2.2"; a bare SMTP reply code ("552") when that is all a
    # plain-text bounce gives
    status: str | None
    action: str | None  # "failed", "delayed", ...
    diagnostic: str  # Diagnostic-Code text (without "smtp;"), or the best line found
    permanent: bool  # a failure (action failed / 5.x.x), not a delay notice


def parse_bounce(raw: bytes, envelope_recipient: str | None = None) -> Bounce | None:
    """The bounce in ``raw``, or None when it is not one. Needs an app context (the VERP
    signature uses the secret key)."""
    try:
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        bounce = _from_report(message) or _from_text(message)
    except Exception:  # the stdlib's header parser still trips on some broken headers
        logger.warning("a message that cannot be parsed as mail was skipped", exc_info=True)
        return None
    if bounce is None:
        return None
    candidates = [envelope_recipient] if envelope_recipient else []
    for name, value in message.raw_items():
        if name.lower() in _VERP_HEADERS:
            candidates += (token for token in _TOKEN_SEPARATORS.split(value) if "@" in token)
    notification_id = next(
        (found for address in candidates if (found := notification_of(address)) is not None),
        None,
    )
    return replace(bounce, notification_id=notification_id)


def _clean(value: str) -> str:
    """One line of valid UTF-8, for a database: bytes that were not UTF-8 replaced, and any
    other lone surrogate (a UTF-7 part can make one) too."""
    try:
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode()
    return " ".join(value.split())


def _text(part: Message) -> str:
    """A text part's content; an unknown charset is read as UTF-8 rather than given up on."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    try:
        return payload.decode(part.get_content_charset() or "utf-8", "replace")
    except (LookupError, ValueError):
        return payload.decode("utf-8", "replace")


def _code(text: str) -> str | None:
    """The enhanced status code in ``text``, else its SMTP reply code."""
    match = _ENHANCED_CODE.search(text) or _REPLY_CODE.search(text)
    return match[0] if match else None


def _lines(text: str) -> list[str]:
    return [_clean(line) for line in text.splitlines() if line.strip()]


def _reply_line(lines: list[str]) -> str | None:
    """The first line with an SMTP reply code: the remote server's own words."""
    return next((line for line in lines if _REPLY_CODE.search(line)), None)


def _without_type(value: str | None) -> str | None:
    """``rfc822; a@b`` -> ``a@b``, ``smtp; 552 ...`` -> ``552 ...``."""
    if not value:
        return None
    return value.partition(";")[2].strip() if ";" in value else value


def _from_report(message: EmailMessage) -> Bounce | None:
    """An RFC 3464 report: per-recipient fields are the delivery-status part's second block."""
    if message.get_content_type() != "multipart/report":
        return None
    parts = list(message.iter_parts())
    blocks = next(
        (
            payload
            for part in parts
            if part.get_content_type() == "message/delivery-status"
            and isinstance(payload := part.get_payload(), list)
        ),
        None,
    )
    if blocks is None:
        return None
    fields = {  # the first recipient's: a warning goes to one
        name.lower(): _clean(value) for block in blocks[1:2] for name, value in block.raw_items()
    }
    action = fields.get("action", "").lower() or None
    human = next((part for part in parts if part.get_content_type() == "text/plain"), None)
    diagnostic = (
        _without_type(fields.get("diagnostic-code"))
        or _reply_line(_lines(_text(human) if human is not None else ""))
        or ""
    )
    status = _ENHANCED_CODE.search(fields.get("status", ""))
    return _bounce(
        recipient=_without_type(fields.get("final-recipient") or fields.get("original-recipient")),
        status=status[0] if status else _code(diagnostic),
        action=action,
        diagnostic=diagnostic,
    )


def _from_text(message: EmailMessage) -> Bounce | None:
    """The plain-text reports of Exim and qmail: an intro, the address, the server's reply."""
    body = message.get_body(preferencelist=("plain",))
    report = _RETURNED_COPY.split(_text(body) if body is not None else "", maxsplit=1)[0]
    if _EXIM in report:
        action = "delayed" if "has not yet been delivered" in report else "failed"
    elif _QMAIL in report:
        action = "failed"
    else:
        return None
    address = _ADDRESS_LINE.search(report)
    failed = _clean(str(message.get("X-Failed-Recipients", ""))).split(",")[0].strip()
    lines = _lines(report[address.end() :] if address else report)
    diagnostic = _reply_line(lines) or (lines[0] if lines else "")
    return _bounce(
        recipient=failed or (address[1] if address else None),
        status=_code(diagnostic),
        action=action,
        diagnostic=diagnostic,
    )


def _bounce(
    recipient: str | None, status: str | None, action: str | None, diagnostic: str
) -> Bounce:
    return Bounce(
        notification_id=None,
        recipient=recipient,
        status=status,
        action=action,
        diagnostic=diagnostic,
        permanent=action == "failed" or (action is None and (status or "").startswith("5")),
    )
