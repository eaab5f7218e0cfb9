"""The transports a notification leaves by: mail with its own bounce address (VERP) through a
real SMTP server, and webhooks through a real HTTP server — including the ways they fail."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from flask import Flask

from panel.services.channels import WebhookError, notification_of, post_webhook, verp_address
from panel.services.mailer import is_transient, send_mail
from tests.conftest import DatabaseStates, close_app, make_app
from tests.smtp import SMTPSink, free_port
from tests.webhooks import WebhookSink

DOCUMENT = {
    "event": "opened",
    "text": "Mailbox info@school.example is 97 % full",
    "level": "critical",
    "package": "school.example",
}


@pytest.fixture
def panel(database: DatabaseStates) -> Iterator[Flask]:
    """An app (in context) sending from onus@example.net, bounces to bounces@example.net; the
    webhook tests post to a sink on 127.0.0.1, so private addresses are allowed unless a test
    says otherwise."""
    app = make_app(
        database,
        ONUS_MAIL_FROM="Onus <onus@example.net>",
        ONUS_BOUNCE_ADDRESS="bounces@example.net",
        ONUS_WEBHOOK_ALLOW_PRIVATE=True,
        ONUS_WEBHOOK_TIMEOUT=1,
    )
    with app.app_context():
        yield app
    close_app(app)


@pytest.fixture
def hook() -> Iterator[WebhookSink]:
    with WebhookSink() as sink:
        yield sink


def post(url: str, webhook_format: str = "json") -> int:
    """Post the document signed under a test key (the signing has tests of its own)."""
    return post_webhook(url, DOCUMENT, webhook_format, secret="k" * 64, delivery="42")


def failure(url: str, webhook_format: str = "json") -> WebhookError:
    with pytest.raises(WebhookError) as caught:
        post(url, webhook_format)
    return caught.value


# --- mail with its own envelope sender ---


def test_send_mail_uses_the_verp_envelope_sender_and_the_given_message_id(panel: Flask) -> None:
    with SMTPSink() as smtp:
        panel.config.update(ONUS_MAIL_SERVER=smtp.host, ONUS_MAIL_PORT=smtp.port)
        sender = verp_address(42)
        returned = send_mail(
            "info@school.example",
            "Mailbox almost full",
            "Plain words",
            "<p>HTML words</p>",
            message_id="<notification-42@example.net>",
            envelope_from=sender,
            headers={"Auto-Submitted": "auto-generated"},
        )
        [received] = smtp.wait_for(1)

    assert returned == "<notification-42@example.net>"
    assert received.mail_from == sender
    assert received.rcpt_tos == ["info@school.example"]
    message = received.message
    assert message["Message-ID"] == "<notification-42@example.net>"
    assert message["From"] == "Onus <onus@example.net>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
    assert parts["text/plain"].strip() == "Plain words"
    assert parts["text/html"].strip() == "<p>HTML words</p>"


def test_send_mail_as_before_without_the_new_arguments(panel: Flask) -> None:
    with SMTPSink() as smtp:
        panel.config.update(ONUS_MAIL_SERVER=smtp.host, ONUS_MAIL_PORT=smtp.port)
        returned = send_mail("info@school.example", "Hello", "Plain words")
        [received] = smtp.wait_for(1)

    assert received.mail_from == "onus@example.net"
    assert re.fullmatch(r"<[^<>@]+@example\.net>", returned)
    assert received.message["Message-ID"] == returned
    assert received.message.get_content_type() == "text/plain"


# --- VERP ---


def test_verp_address_round_trip(panel: Flask) -> None:
    address = verp_address(42)
    assert re.fullmatch(r"bounces\+n42-[0-9a-f]{10}@example\.net", address)
    assert notification_of(address) == 42
    assert notification_of(f"<{address}>") == 42
    assert notification_of(f" <{address.upper()}> ") == 42
    assert verp_address(43) != address.replace("n42", "n43")


def test_verp_defaults_to_the_sender_address(panel: Flask) -> None:
    panel.config["ONUS_BOUNCE_ADDRESS"] = ""
    address = verp_address(7)
    assert re.fullmatch(r"onus\+n7-[0-9a-f]{10}@example\.net", address)
    assert notification_of(address) == 7


def test_verp_refuses_forged_and_foreign_addresses(panel: Flask) -> None:
    address = verp_address(42)
    local, _at, domain = address.partition("@")
    signature = local.rsplit("-", 1)[1]
    tampered = "0" if signature[0] != "0" else "1"
    forged = [
        address.replace(signature, tampered + signature[1:]),  # altered signature
        address.replace("n42-", "n43-"),  # another notification, same signature
        address.replace("n42-", "n042-"),  # the same number written otherwise
        address.replace("bounces+", "other+"),  # another base address
        address.replace("example.net", "example.org"),
        f"{local}@mail.{domain}",
        "bounces@example.net",
        "bounces+n42@example.net",
        "bounces+nabc-0123456789@example.net",
        "",
        "<>",
        "not an address at all",
    ]
    for candidate in forged:
        assert notification_of(candidate) is None, candidate

    panel.config["SECRET_KEY"] = "another key"
    assert notification_of(address) is None


# --- webhooks ---


def test_json_webhook_posts_the_document(panel: Flask, hook: WebhookSink) -> None:
    assert post(hook.url) == 200
    [request] = hook.wait_for(1)
    assert request.method == "POST"
    assert request.path == "/hook"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "Onus"
    assert request.json == DOCUMENT


def test_slack_webhook_posts_only_the_text(panel: Flask, hook: WebhookSink) -> None:
    hook.status = 202
    assert post(hook.url, "slack") == 202
    [request] = hook.wait_for(1)
    assert request.json == {"text": DOCUMENT["text"]}


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_and_rate_limits_are_transient(
    panel: Flask, hook: WebhookSink, status: int
) -> None:
    hook.status = status
    error = failure(hook.url)
    assert error.transient
    assert error.reason == f"the webhook answered {status}"
    assert is_transient(error)


@pytest.mark.parametrize("status", [404, 400, 410])
def test_client_errors_are_permanent(panel: Flask, hook: WebhookSink, status: int) -> None:
    hook.status = status
    error = failure(hook.url)
    assert not error.transient
    assert error.reason == f"the webhook answered {status}"
    assert not is_transient(error)


def test_a_redirect_is_not_followed(panel: Flask, hook: WebhookSink) -> None:
    hook.status = 302
    error = failure(hook.url)
    assert not error.transient
    assert "redirect" in error.reason
    time.sleep(0.2)
    assert [request.path for request in hook.received] == ["/hook"]


def test_a_hanging_webhook_times_out_as_transient(panel: Flask, hook: WebhookSink) -> None:
    hook.delay = 5
    started = time.monotonic()
    error = failure(hook.url)
    assert time.monotonic() - started < 4
    assert error.transient
    assert error.reason == "no answer within 1 s"
    assert len(hook.received) == 1


def test_a_refused_connection_is_transient(panel: Flask) -> None:
    error = failure(f"http://127.0.0.1:{free_port()}/hook")
    assert error.transient
    assert "refused" in error.reason


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",
        "http://localhost:{port}/hook",
        "http://[::ffff:127.0.0.1]:{port}/hook",
        "http://10.1.2.3/hook",
        "https://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0:{port}/hook",
    ],
)
def test_private_addresses_are_refused_unless_allowed(
    panel: Flask, hook: WebhookSink, url: str
) -> None:
    panel.config["ONUS_WEBHOOK_ALLOW_PRIVATE"] = False
    port = hook.url.rsplit(":", 1)[1].split("/")[0]
    error = failure(url.format(port=port))
    assert not error.transient
    assert "private address" in error.reason
    assert hook.received == []


@pytest.mark.parametrize(
    "url",
    ["ftp://example.net/hook", "file:///etc/passwd", "hook.example.net/x", "http:///nohost"],
)
def test_only_http_addresses_are_posted_to(panel: Flask, url: str) -> None:
    error = failure(url)
    assert not error.transient
    assert "http" in error.reason


def test_an_invalid_port_is_permanent(panel: Flask) -> None:
    error = failure("http://127.0.0.1:notaport/hook")
    assert not error.transient
