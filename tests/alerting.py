"""Helpers for the alert tests: measurements with chosen figures at chosen times, and the
send loop the Celery tasks run, called in-process so a test can move the clock."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from panel.extensions import db
from panel.models import Package
from panel.services import alerts, notifications, usage

MIB = 1024 * 1024


def report(
    mailboxes: dict[str, int] | None = None,
    parts: dict[str, int] | None = None,
    other: int = 0,
    docroot: str = "public_html",
) -> dict[str, Any]:
    """An account report as the scanner makes it, with only the figures the alerts read."""
    return {
        "mailboxes": {
            address: {"bytes": size, "messages": size // 50_000, "folders": {"": {"bytes": size}}}
            for address, size in (mailboxes or {}).items()
        },
        "sites": {
            docroot: {
                "kind": "wordpress",
                "bytes": sum((parts or {}).values()),
                "files": len(parts or {}),
                "parts": {p: {"bytes": b, "files": 1} for p, b in (parts or {}).items()},
            }
        },
        "other": {"bytes": other, "files": 0},
        "databases": {},
        "skipped": {},
    }


def measure(package_id: int, at: datetime, **figures: Any) -> None:
    package = db.session.get_one(Package, package_id)
    usage.record_measurement(package, report(**figures), at, 0.01)


def send(ids: Iterable[int], now: datetime, claimant: str = "test") -> dict[str, str]:
    """Deliver notifications as the sending task does (without its retry timer): the
    outcome per id; a refusal escalates at once, and what that makes is sent too."""
    outcome: dict[str, str] = {}
    queue = list(ids)
    while queue:
        notification_id = queue.pop(0)
        try:
            outcome[str(notification_id)] = notifications.deliver(notification_id, claimant, now)
        except notifications.DeliveryDeferred as exc:
            outcome[str(notification_id)] = f"deferred: {exc}"
        except notifications.DeliveryFailed as exc:
            outcome[str(notification_id)] = f"failed: {exc}"
            queue.extend(alerts.after_delivery_failure(notification_id, now).to_send)
    return outcome


def evaluate(package_ids: Iterable[int], now: datetime) -> alerts.Outcome:
    outcome = alerts.evaluate(package_ids, now)
    send(outcome.to_send, now)
    return outcome


def round_(now: datetime) -> alerts.Outcome:
    """Beat's alert round: evaluate all, escalate and remind, send."""
    outcome = alerts.evaluate_all(now)
    outcome.add(alerts.escalate_due(now))
    send(outcome.to_send, now)
    return outcome


def build_digests_and_send(now: datetime) -> dict[str, str]:
    """Beat's daily digest: build them and send them."""
    return send(notifications.build_digests(now), now)
