"""A real HTTP server for webhook tests on 127.0.0.1, keeping every request it gets.

    with WebhookSink() as hook:
        post_webhook(hook.url, ...)
        [request] = hook.wait_for(1)

``status`` and ``delay`` may be changed while it runs: answer 500, or hang past a timeout.
``answers`` are statuses answered first, one per request, in order (500 once, then
``status``), for a sender whose retry comes when the test cannot step in.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.recording import Recording


@dataclass(frozen=True)
class WebhookRequest:
    """One request as it arrived."""

    method: str
    path: str
    headers: Message  # case-insensitive, as HTTP headers are
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class WebhookSink(Recording[WebhookRequest]):
    """An HTTP server answering every request with ``status`` after ``delay`` seconds."""

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.status = status
        self.delay = delay
        self.answers: list[int] = []
        super().__init__()
        self._stopping = threading.Event()
        self._answering = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True  # a hanging answer must not hold up stop()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink._answering:
                    answer = sink.answers.pop(0) if sink.answers else None
                sink._record(WebhookRequest("POST", self.path, self.headers, body))
                sink._stopping.wait(sink.delay)
                status = sink.status if answer is None else answer
                try:
                    self.send_response(status)
                    if 300 <= status < 400:
                        self.send_header("Location", "/elsewhere")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the client gave up waiting: what a hang test wants
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output for the tests

        return Handler

    def start(self) -> WebhookSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
