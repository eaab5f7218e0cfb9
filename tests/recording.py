"""What the test servers (SMTP, webhooks) share: a thread-safe record of what arrived, a
wait for it, and a ``with`` block that starts and stops the server."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Generic, Self, TypeVar

T = TypeVar("T")


class Recording(Generic[T]):
    """Keeps what a server got; subclasses add ``_record`` calls and ``start``/``stop``."""

    def __init__(self) -> None:
        self._received: list[T] = []
        self._lock = threading.Lock()

    def _record(self, item: T) -> None:
        with self._lock:
            self._received.append(item)

    @property
    def received(self) -> list[T]:
        with self._lock:
            return list(self._received)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[T]:
        """At least ``count`` items, polling until ``timeout`` seconds have passed."""
        deadline = time.monotonic() + timeout
        while True:
            received = self.received
            if len(received) >= count or time.monotonic() >= deadline:
                return received
            time.sleep(0.05)

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
