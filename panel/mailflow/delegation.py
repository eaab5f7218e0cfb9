"""Postfix's SMTP access policy delegation protocol (``check_policy_service``), pure.

Postfix sends ``name=value`` lines ending with an empty line and waits for one
``action=...`` line and an empty line; one connection carries many requests. The parser
here is fed raw bytes as they arrive and never holds more than one bounded line and a
bounded number of attributes, so a broken or hostile client costs a little memory and gets
``DUNNO`` rather than stalling the mail server. No sockets here: the server owns those.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_LINE = 2048  # Postfix's own attributes are far shorter; a longer line is junk
MAX_ATTRIBUTES = 128  # Postfix 3.x sends about 40
# lines of one request after which the client is not speaking the protocol at all
MAX_LINES = 4 * MAX_ATTRIBUTES
MAX_ADDRESS = 254

DUNNO = "DUNNO"


@dataclass(frozen=True)
class Request:
    """One request: its attributes, or why it cannot be taken at its word (``problem``)."""

    attributes: dict[str, str] = field(default_factory=dict)
    problem: str = ""

    @property
    def recipient(self) -> str:
        """The recipient as Onus stores addresses: lower case, without angle brackets."""
        return self.attributes.get("recipient", "").strip().strip("<>").lower()

    @property
    def usable(self) -> bool:
        """Worth a look-up: well formed, an access-policy request for one recipient (at RCPT
        TO: at DATA or end of message a refusal would hit every recipient at once)."""
        return (
            not self.problem
            and self.attributes.get("request") == "smtpd_access_policy"
            and self.attributes.get("protocol_state", "RCPT").upper() == "RCPT"
            and 0 < len(self.recipient) <= MAX_ADDRESS
        )


class Parser:
    """Splits a byte stream into requests, keeping within the limits above.

    A too-long line is skipped up to its end and spoils its request (answered ``DUNNO``);
    so do lines without ``=`` and attributes beyond the limit. A client that sends more
    lines than any request could have is ``broken``: the server closes the connection.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._attributes: dict[str, str] = {}
        self._problem = ""
        self._lines = 0
        self._skipping = False  # inside a too-long line, until its newline
        self.broken = False

    def feed(self, data: bytes) -> list[Request]:
        """The requests completed by ``data`` (possibly none)."""
        done: list[Request] = []
        if self.broken:
            return done
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_LINE:
                    self._spoil("line too long")
                    self._skipping = True
                    self._buffer.clear()
                return done
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if self._skipping:
                self._skipping = False  # the rest of the long line: already counted
                continue
            if len(line) > MAX_LINE:
                self._spoil("line too long")
                continue
            request = self._line(line)
            if request is not None:
                done.append(request)
            if self.broken:
                return done

    def _line(self, line: bytes) -> Request | None:
        line = line.removesuffix(b"\r")
        if not line:
            request = Request(self._attributes, self._problem)
            self._attributes, self._problem, self._lines = {}, "", 0
            return request
        self._lines += 1
        if self._lines > MAX_LINES:
            self.broken = True
            return None
        name, sep, value = line.partition(b"=")
        if not sep or not name:
            self._spoil("not name=value")
        elif len(self._attributes) >= MAX_ATTRIBUTES:
            self._spoil("too many attributes")
        else:
            key = name.decode("ascii", "replace").strip().lower()
            self._attributes[key] = value.decode("utf-8", "replace")
        return None

    def _spoil(self, problem: str) -> None:
        if not self._problem:
            self._problem = problem


def answer(action: str) -> bytes:
    """The reply for one request: one ``action=`` line, then the empty line."""
    safe = "".join(ch if " " <= ch < "\x7f" else "?" for ch in action)[:MAX_LINE]
    return f"action={safe or DUNNO}\n\n".encode("ascii")


def _shown(recipient: str) -> str:
    return "".join(ch if " " < ch < "\x7f" and ch not in "<>" else "?" for ch in recipient)[
        :MAX_ADDRESS
    ]


# Ends every refusal the service gives, so the panel's log ingest knows Postfix's log line of
# it for one the service counted already (and the sender's postmaster knows who said it).
TAG = "(onus policy)"


def defer_action(recipient: str) -> str:
    """A temporary refusal: the sender's server keeps the message and retries for days."""
    return f"452 4.2.2 <{_shown(recipient)}> Mailbox is full; try again later {TAG}"


def bounce_action(recipient: str) -> str:
    """The permanent refusal, once the grace period is over (or the agreement says so)."""
    return f"552 5.2.2 <{_shown(recipient)}> Mailbox is full {TAG}"
