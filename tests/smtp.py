"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, keeping every message it accepts.

    with SMTPSink() as smtp:
        ...  # point ONUS_MAIL_SERVER / ONUS_MAIL_PORT at smtp.host / smtp.port
        [received] = smtp.wait_for(1)

``SMTPSink(port=...)`` listens on a chosen port, e.g. one that was dead until now.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller


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


class SMTPSink:
    """An SMTP server accepting every message, until ``stop`` (or the ``with`` ends)."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port(host)
        self._received: list[Received] = []
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname=host, port=self.port)

    # aiosmtpd calls this (in its own thread) for every message after DATA
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode()
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self._received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """At least ``count`` messages, polling until ``timeout`` seconds have passed."""
        deadline = time.monotonic() + timeout
        while True:
            received = self.received
            if len(received) >= count or time.monotonic() >= deadline:
                return received
            time.sleep(0.05)

    def start(self) -> SMTPSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SMTPSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
