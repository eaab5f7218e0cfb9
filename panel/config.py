"""Settings from ``ONUS_*`` environment variables, with embedded defaults.

The embedded default needs nothing but Python: SQLite under ``instance/`` and a Celery
broker and result store in SQLite files beside it. Production sets the URLs to
PostgreSQL and Redis; the code is the same.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import orjson

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def instance_path() -> Path:
    """The folder holding the embedded database, broker and generated secret."""
    return Path(os.environ.get("ONUS_INSTANCE_PATH", PROJECT_ROOT / "instance")).resolve()


# orjson reads an integer beyond 64 bits as a float: a text with a run of 19 digits or
# more (digits made zeros, then looked for as one run: far faster than a regex) is read
# with the standard module instead
_DIGITS_AS_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19


def json_loads(text: str | bytes) -> Any:
    """How JSON columns are read: with orjson, twice as fast as the standard module on the
    week of usage history every alert round reads; a text with a number orjson would round,
    or one it refuses (NaN), with the standard module, so nothing is lost."""
    raw = text.encode() if isinstance(text, str) else text
    if _LONG_NUMBER in raw.translate(_DIGITS_AS_ZEROS):
        return json.loads(text)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key(folder: Path) -> str:
    """``ONUS_SECRET_KEY``, or a key generated once and kept in ``instance/secret_key``."""
    configured = os.environ.get("ONUS_SECRET_KEY")
    if configured:
        return configured
    key_file = folder / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    folder.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def load_settings() -> dict[str, object]:
    """Flask config keys built from the environment, read at app creation time."""
    folder = instance_path()
    folder.mkdir(parents=True, exist_ok=True)
    database_url = os.environ.get("ONUS_DATABASE_URL") or f"sqlite:///{folder / 'onus.sqlite'}"
    broker_url = os.environ.get("ONUS_BROKER_URL") or f"sqla+sqlite:///{folder / 'broker.sqlite'}"
    embedded_results = f"db+sqlite:///{folder / 'results.sqlite'}"
    result_url = os.environ.get("ONUS_RESULT_BACKEND") or (
        broker_url if broker_url.startswith("redis") else embedded_results
    )
    limiter_storage = os.environ.get("ONUS_RATELIMIT_STORAGE_URL") or (
        broker_url if broker_url.startswith("redis") else "memory://"
    )
    secure_cookies = _env_bool("ONUS_SECURE_COOKIES", True)
    return {
        "SECRET_KEY": _secret_key(folder),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "json_deserializer": json_loads},
        "CELERY": {
            "broker_url": broker_url,
            "result_backend": result_url,
            "task_ignore_result": False,
            "broker_connection_retry_on_startup": True,
            # where tasks go unless routed to a node's queue
            "task_default_queue": os.environ.get("ONUS_DEFAULT_QUEUE", "celery"),
        },
        "RATELIMIT_STORAGE_URI": limiter_storage,
        "RATELIMIT_HEADERS_ENABLED": True,
        "ONUS_LOGIN_LIMIT": os.environ.get("ONUS_LOGIN_LIMIT", "10 per minute;50 per hour"),
        "ONUS_API_LIMIT": os.environ.get("ONUS_API_LIMIT", "600/minute"),
        "SESSION_COOKIE_SECURE": secure_cookies,
        "REMEMBER_COOKIE_SECURE": secure_cookies,
        "SESSION_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": 12 * 3600,
        "WTF_CSRF_TIME_LIMIT": 12 * 3600,
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        "ONUS_MAIL_SERVER": os.environ.get("ONUS_MAIL_SERVER", "localhost"),
        "ONUS_MAIL_PORT": int(os.environ.get("ONUS_MAIL_PORT", "25")),
        "ONUS_MAIL_USERNAME": os.environ.get("ONUS_MAIL_USERNAME", ""),
        "ONUS_MAIL_PASSWORD": os.environ.get("ONUS_MAIL_PASSWORD", ""),
        "ONUS_MAIL_STARTTLS": _env_bool("ONUS_MAIL_STARTTLS", False),
        "ONUS_MAIL_FROM": os.environ.get("ONUS_MAIL_FROM", "onus@localhost"),
        # First retry delay (seconds) after a failed SMTP hand-off; it doubles per retry.
        "ONUS_MAIL_RETRY_BACKOFF": int(os.environ.get("ONUS_MAIL_RETRY_BACKOFF", "30")),
        # Envelope sender (Return-Path) base of warning mails: each gets its own signed
        # bounces+n<id>-<sig>@... form of it, so its bounce finds it. Empty: ONUS_MAIL_FROM.
        "ONUS_BOUNCE_ADDRESS": os.environ.get("ONUS_BOUNCE_ADDRESS", ""),
        # Seconds to wait for a webhook to answer before trying again later.
        "ONUS_WEBHOOK_TIMEOUT": float(os.environ.get("ONUS_WEBHOOK_TIMEOUT", "10")),
        # Allow webhooks to loopback/private/link-local addresses (off: a party could otherwise
        # make Onus post to internal services).
        "ONUS_WEBHOOK_ALLOW_PRIVATE": _env_bool("ONUS_WEBHOOK_ALLOW_PRIVATE", False),
        # Measuring: a worker on a hosting node consumes the queue node.<name> when per-node
        # queues are on (production); the embedded worker takes everything from one queue.
        "ONUS_NODE_QUEUES": _env_bool("ONUS_NODE_QUEUES", False),
        "ONUS_MEASURE_EVERY": int(os.environ.get("ONUS_MEASURE_EVERY", str(4 * 3600))),
        "ONUS_SCAN_CACHE_DIR": os.environ.get("ONUS_SCAN_CACHE_DIR", str(folder / "scan-cache")),
        "ONUS_MYSQL_URL": os.environ.get("ONUS_MYSQL_URL", ""),
        "ONUS_POSTGRES_URL": os.environ.get("ONUS_POSTGRES_URL", ""),
        "ONUS_BASE_URL": os.environ.get("ONUS_BASE_URL", "http://127.0.0.1:5000"),
        "ONUS_INVITE_MAX_AGE": int(os.environ.get("ONUS_INVITE_MAX_AGE", str(7 * 24 * 3600))),
        # Alerts: beat's round (evaluate all, escalate, remind, resend lost) every N seconds;
        # the daily digest at this UTC hour; acknowledge links valid this many seconds; a
        # notification claimed by a sender that died is taken over after the lease (seconds).
        "ONUS_ALERT_ROUND_EVERY": int(os.environ.get("ONUS_ALERT_ROUND_EVERY", "900")),
        # Mail logs: every node's followed logs are read every N seconds
        "ONUS_MAIL_LOG_EVERY": int(os.environ.get("ONUS_MAIL_LOG_EVERY", "120")),
        "ONUS_DIGEST_HOUR": int(os.environ.get("ONUS_DIGEST_HOUR", "7")),
        "ONUS_ACK_LINK_MAX_AGE": int(os.environ.get("ONUS_ACK_LINK_MAX_AGE", str(14 * 24 * 3600))),
        "ONUS_SEND_LEASE": int(os.environ.get("ONUS_SEND_LEASE", "300")),
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_DEFAULT_TIMEZONE": "UTC",
        "BABEL_TRANSLATION_DIRECTORIES": str(PROJECT_ROOT / "panel" / "translations"),
    }
