"""Ways out for a notification besides the plain mail hand-off: a return address per message
(VERP) so its bounce finds it again, and webhooks (JSON, Slack/Mattermost) that still work
when the mailbox in trouble cannot take a warning. Every webhook post is signed under its
contact's key, so a receiver can tell Onus's posts from anyone else's."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import ipaddress
import json
import re
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from flask import current_app

_VERP = re.compile(
    r"(?P<local>.+)\+n(?P<id>0|[1-9][0-9]{0,17})-(?P<sig>[0-9a-f]{10})@(?P<domain>.+)"
)


def _bounce_base() -> str:
    """The bare address of ``ONUS_BOUNCE_ADDRESS``, else of ``ONUS_MAIL_FROM`` (read at use
    time, so an app configured with another sender follows it)."""
    config = current_app.config
    return parseaddr(config["ONUS_BOUNCE_ADDRESS"] or config["ONUS_MAIL_FROM"])[1]


def _signature(digits: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, digits.encode(), hashlib.sha256).hexdigest()[:10]


def verp_address(notification_id: int) -> str:
    """The envelope sender for one notification's mail: its bounce comes back to this address,
    and the signature keeps anyone from pinning a bounce on another notification."""
    local, _at, domain = _bounce_base().rpartition("@")
    return f"{local}+n{notification_id}-{_signature(str(notification_id))}@{domain}"


def notification_of(address: str) -> int | None:
    """The notification a bounce address belongs to; None unless the address is one of ours
    with a valid signature (MTAs may change its case, so case does not matter)."""
    match = _VERP.fullmatch(address.strip().strip("<>").strip().lower())
    if match is None or f"{match['local']}@{match['domain']}" != _bounce_base().lower():
        return None
    if not hmac.compare_digest(match["sig"], _signature(match["id"])):
        return None
    return int(match["id"])


class WebhookError(Exception):
    """A webhook that did not take the message; ``transient`` says whether trying again later
    may help, ``reason`` says what happened, for the party reading the notification log."""

    def __init__(self, reason: str, *, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


def _internal(address: str) -> bool:
    """Whether an IP address is not on the public internet (loopback, private, link-local,
    reserved, multicast, old site-local; an IPv4 address written as IPv6 counts as itself)."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local:
            return True
        ip = ip.ipv4_mapped or ip
    return not ip.is_global or ip.is_multicast or ip.is_reserved


class _PublicHTTPConnection(http.client.HTTPConnection):
    """Resolves the host once, refuses it if any address is internal, and connects to exactly
    the addresses it checked: a second lookup could answer otherwise (DNS rebinding)."""

    def connect(self) -> None:
        infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for address in addresses:
            if _internal(address):
                raise WebhookError(
                    f"the webhook host {self.host} is a private address ({address}); "
                    "Onus does not post to internal networks",
                    transient=False,
                )
        for address in addresses[:-1]:
            with contextlib.suppress(OSError):
                self.sock = socket.create_connection((address, self.port), self.timeout)
                return
        self.sock = socket.create_connection((addresses[-1], self.port), self.timeout)


# HTTPSConnection.connect opens the TCP connection through super().connect() and then starts
# TLS (for the host name, not the address); with this order that super() is the checked one.
class _PublicHTTPSConnection(http.client.HTTPSConnection, _PublicHTTPConnection):
    pass


class _PublicHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_PublicHTTPConnection, req)


class _PublicHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_PublicHTTPSConnection, req)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: following it would post the document somewhere nobody set."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _failure(exc: BaseException, host: str, timeout: float) -> WebhookError:
    """The error a failed post becomes, in words for the party that set up the webhook."""
    if isinstance(exc, urllib.error.HTTPError):
        if 300 <= exc.code < 400:
            return WebhookError(
                f"the webhook answered {exc.code} (a redirect, which Onus does not follow)",
                transient=False,
            )
        return WebhookError(
            f"the webhook answered {exc.code}", transient=exc.code == 429 or exc.code >= 500
        )
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        exc = exc.reason
    if isinstance(exc, TimeoutError):
        return WebhookError(f"no answer within {timeout:g} s", transient=True)
    if isinstance(exc, socket.gaierror):
        return WebhookError(f"the host name {host} could not be resolved", transient=True)
    if isinstance(exc, ConnectionRefusedError):
        return WebhookError(f"{host} refused the connection", transient=True)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return WebhookError(
            f"the certificate of {host} is not valid: {exc.verify_message}", transient=False
        )
    if isinstance(exc, http.client.InvalidURL):
        return WebhookError(f"the webhook address is not valid: {exc}", transient=False)
    if isinstance(exc, http.client.HTTPException):
        return WebhookError(f"{host} did not answer in HTTP", transient=True)
    return WebhookError(f"could not reach {host}: {exc}", transient=True)


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Onus-Signature`` of a post: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of
    "<t>.<body>">`` under the contact's key (as text). Stripe's scheme: the time is signed
    with the body, so a receiver can refuse an old post played again."""
    signed = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def post_webhook(
    url: str,
    document: Mapping[str, Any],
    webhook_format: str,
    *,
    secret: str,
    delivery: str,
) -> int:
    """POST one notification as JSON, signed; the HTTP status on success, else ``WebhookError``.

    ``webhook_format`` "json" posts ``document`` as it is; "slack" posts only its "text", the
    shape Slack and Mattermost incoming webhooks take. Either way the headers name the event
    (the document's "event"), the delivery (the same on every retry, for de-duplication) and
    the signature of the exact body under ``secret``. Proxies from the environment are not
    used: the address check must see the host actually connected to.
    """
    config = current_app.config
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(f"{url} is not an http:// or https:// address", transient=False)
    if webhook_format == "slack":
        body = {"text": document["text"]}
    elif webhook_format == "json":
        body = dict(document)
    else:
        raise ValueError(f"unknown webhook format {webhook_format!r}")
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Onus",
            "X-Onus-Event": str(document["event"]),
            "X-Onus-Delivery": delivery,
            "X-Onus-Signature": webhook_signature(secret, int(time.time()), data),
        },
        method="POST",
    )
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({}), _NoRedirect()]
    if not config["ONUS_WEBHOOK_ALLOW_PRIVATE"]:
        handlers += [_PublicHTTPHandler(), _PublicHTTPSHandler()]
    timeout = float(config["ONUS_WEBHOOK_TIMEOUT"])
    try:
        with urllib.request.build_opener(*handlers).open(request, timeout=timeout) as response:
            return int(response.status)
    except (OSError, http.client.HTTPException) as exc:
        raise _failure(exc, parts.hostname, timeout) from exc
