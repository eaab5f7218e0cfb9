"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, keeping every message it accepts.

    with SMTPSink() as smtp:
        ...  # point ONUS_MAIL_SERVER / ONUS_MAIL_PORT at smtp.host / smtp.port
        [received] = smtp.wait_for(1)

``SMTPSink(port=...)`` listens on a chosen port, e.g. one that was dead until now;
``refuse={address: "550 5.1.1 No such user"}`` answers RCPT TO for that address so (a 4xx
reply is a temporary refusal, a 5xx a permanent one).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.recording import Recording


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Received:
    """One accepted message: the SMTP envelope and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class SMTPSink(Recording[Received]):
    """An SMTP server accepting every message, until ``stop`` (or the ``with`` ends)."""

    def __init__(
        self, port: int | None = None, host: str = "127.0.0.1", refuse: dict[str, str] | None = None
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.refuse = dict(refuse or {})
        super().__init__()
        self._controller = Controller(self, hostname=host, port=self.port)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self.refuse:
            return self.refuse[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    # aiosmtpd calls this (in its own thread) for every message after DATA
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode()
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self._record(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def start(self) -> SMTPSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
