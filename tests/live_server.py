"""A real HTTP server for browser tests: waitress serving a Flask app from a background thread.

    with LiveServer(app) as server:
        page.goto(server.url + "/login")

The server listens on a free port of 127.0.0.1 (port 0: the OS picks one). Stopping closes
every socket from inside waitress's own event loop, so the loop ends by itself, and then waits
for the worker threads; nothing is left running when ``stop`` returns.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

import waitress
from flask import Flask
from waitress import wasyncore


class LiveServer:
    """``app`` served on ``http://127.0.0.1:<port>`` until ``stop`` (or the ``with`` ends)."""

    def __init__(self, app: Flask, host: str = "127.0.0.1", threads: int = 4) -> None:
        self.app = app
        self.server: Any = waitress.create_server(
            app,
            host=host,
            port=0,
            threads=threads,
            # the event loop wakes at least this often; keeps stop() quick
            asyncore_loop_timeout=0.2,
            # an unused channel is closed soon, so no socket outlives a test for long
            channel_timeout=10,
            ident="onus-test",
        )
        self.host = host
        self.port: int = self.server.effective_port
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self.server.run, name=f"live-server-{self.port}", daemon=True
        )

    def start(self) -> LiveServer:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Close the listening socket and every open connection, then join all threads."""
        if self._thread.is_alive():
            # The thunk runs in the loop's thread, so the socket map is not changed under it.
            # With the map empty (the trigger pipe closes too) wasyncore.loop() returns.
            self.server.trigger.pull_trigger(lambda: wasyncore.close_all(self.server._map))
            self._thread.join(timeout)
        else:
            wasyncore.close_all(self.server._map)
        self.server.task_dispatcher.shutdown(timeout=timeout)
        if self._thread.is_alive():
            raise RuntimeError(f"the live server on {self.url} did not stop in {timeout} s")

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
