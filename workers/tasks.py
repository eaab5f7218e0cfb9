"""Thin Celery tasks: each calls one service."""

from __future__ import annotations

import smtplib
import socket
from datetime import datetime
from typing import Any

from celery import Task
from celery.utils.time import get_exponential_backoff_interval
from flask import current_app

from panel.extensions import db
from panel.models import Package
from panel.models.base import utcnow
from panel.services import (
    alerts,
    grace,
    mail_alerts,
    mailflow,
    measurement,
    notifications,
    reminders,
    usage,
    worker_status,
)
from panel.services.mailer import is_transient, send_invitation_mail
from panel.services.measurement import NodeSettings
from workers import celery_app


@celery_app.task(name="workers.tasks.record_heartbeat")
def record_heartbeat() -> str:
    """Beat's proof of life, shown to the hoster on the dashboard."""
    return worker_status.record_heartbeat(socket.gethostname()).isoformat()


@celery_app.task(bind=True, name="workers.tasks.send_invitation", max_retries=12)
def send_invitation(self: Task, invitation_id: int, link: str) -> str:
    """Mail an invitation link; a dead SMTP server is retried with backoff, not dropped.

    The delay starts at ``ONUS_MAIL_RETRY_BACKOFF`` seconds and doubles per retry (full jitter),
    up to an hour. A permanent refusal (5xx) fails the task at once, with the server's reply.
    """
    try:
        return send_invitation_mail(invitation_id, link)
    except (OSError, smtplib.SMTPException) as exc:
        if not is_transient(exc):
            raise
        raise self.retry(exc=exc, countdown=_backoff(self)) from exc


def _backoff(task: Task) -> int:
    """Seconds before the next try: ``ONUS_MAIL_RETRY_BACKOFF``, doubling per retry (full
    jitter), up to an hour."""
    return int(
        get_exponential_backoff_interval(
            factor=max(1, int(current_app.config["ONUS_MAIL_RETRY_BACKOFF"])),
            retries=task.request.retries,
            maximum=3600,
            full_jitter=True,
        )
    )


def _node_settings() -> NodeSettings:
    return NodeSettings.from_config(current_app.config)


@celery_app.task(name="workers.tasks.measure_package")
def measure_package(package_id: int) -> int | None:
    """Measure one package now ("measure now"); runs on the package's node queue."""
    package = db.session.get(Package, package_id)
    if package is None:
        return None
    total = measurement.measure_package(package, _node_settings()).total_bytes
    evaluate_alerts.delay([package_id])
    return total


@celery_app.task(name="workers.tasks.measure_node")
def measure_node(node_id: int) -> dict[str, int]:
    """Measure every package of a node; runs on that node's queue, where the files are."""
    outcome = measurement.measure_node(node_id, _node_settings())
    evaluate_alerts.delay(measurement.package_ids(node_id))
    return outcome


@celery_app.task(name="workers.tasks.measure_all")
def measure_all() -> int:
    """Beat's schedule: send each node's measurement to the node's own queue."""
    nodes = measurement.all_nodes()
    for node in nodes:
        measure_node.apply_async(
            args=[node.id], queue=measurement.node_queue(node, current_app.config)
        )
    return len(nodes)


@celery_app.task(name="workers.tasks.downsample_usage")
def downsample_usage() -> int:
    """Beat's daily thinning of old usage history."""
    return usage.downsample(utcnow())


@celery_app.task(name="workers.tasks.send_agreement_reminders")
def send_agreement_reminders() -> dict[str, int]:
    """Beat's weekly mail to each hoster listing its packages without a complete agreement."""
    return reminders.send_agreement_reminders(utcnow())


@celery_app.task(name="workers.tasks.evaluate_alerts")
def evaluate_alerts(package_ids: list[int]) -> dict[str, int]:
    """After a measurement: open, raise or resolve the packages' alerts and tell whoever
    answers for them."""
    outcome = alerts.evaluate(package_ids, utcnow())
    notifications.send_soon(outcome.to_send)
    return dict(outcome.counts)


@celery_app.task(name="workers.tasks.alert_rounds")
def alert_rounds() -> dict[str, int]:
    """Beat's round: evaluate every package, escalate and remind what is due, and send
    again what a lost task left queued."""
    now = utcnow()
    outcome = alerts.evaluate_all(now)
    outcome.add(mail_alerts.review(now))
    outcome.add(alerts.escalate_due(now))
    notifications.send_soon(outcome.to_send)
    lost = notifications.stuck(now)
    notifications.send_soon(lost)
    return {**outcome.counts, "resent": len(lost)}


@celery_app.task(name="workers.tasks.send_digests")
def send_digests() -> int:
    """Beat's daily digest: what each party's notifications held back, in one message."""
    made = notifications.build_digests(utcnow())
    notifications.send_soon(made)
    return len(made)


@celery_app.task(
    bind=True,
    name="workers.tasks.send_notification",
    max_retries=12,
    acks_late=True,
    reject_on_worker_lost=True,
)
def send_notification(self: Task, notification_id: int) -> str:
    """Send one notification once. A killed worker's task is delivered again (late ack)
    and keeps its claim; a failure that may pass is retried with backoff; a refusal, or
    the last retry, marks it failed and escalates its alert at once."""
    claimant = self.request.id or f"local-{notification_id}"
    try:
        return notifications.deliver(notification_id, claimant, utcnow())
    except notifications.DeliveryDeferred as exc:
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=_backoff(self)) from exc
        notifications.give_up(notification_id, utcnow())
    except notifications.DeliveryFailed:
        pass
    notifications.send_soon(alerts.after_delivery_failure(notification_id, utcnow()).to_send)
    return "failed"


@celery_app.task(name="workers.tasks.ingest_mail_logs")
def ingest_mail_logs(node_id: int) -> dict[str, int]:
    """Read what is new in a node's mail logs (on that node's queue, where the files are),
    then open or grow the alerts of the mailboxes refusing mail because they are full."""
    now = utcnow()
    ingested = mailflow.ingest_node(node_id, now)
    outcome = mail_alerts.after_ingest(ingested, now)
    notifications.send_soon(outcome.to_send)
    return {**ingested.counts, **outcome.counts}


@celery_app.task(name=grace.ALERT_TASK)
def alert_policy_refusals(refused: list[list[Any]], at: str) -> dict[str, int]:
    """The policy server's refusals ([package id, address, ISO time]) open or grow their
    mailboxes' delivery alerts here, in a worker: the server itself only answers and counts,
    so telling people never slows an answer to Postfix."""
    outcome = grace.alert_refusals(
        [(int(p), str(a), datetime.fromisoformat(t)) for p, a, t in refused],
        datetime.fromisoformat(at),
    )
    notifications.send_soon(outcome.to_send)
    return dict(outcome.counts)


@celery_app.task(name="workers.tasks.ingest_all_mail_logs")
def ingest_all_mail_logs() -> int:
    """Beat's schedule: each node with a mail log to follow reads it on its own queue."""
    nodes = mailflow.nodes_with_sources()
    for node in nodes:
        ingest_mail_logs.apply_async(
            args=[node.id], queue=measurement.node_queue(node, current_app.config)
        )
    return len(nodes)
