"""Thin Celery tasks: each calls one service."""

from __future__ import annotations

import smtplib
import socket

from celery import Task
from celery.utils.time import get_exponential_backoff_interval
from flask import current_app

from panel.extensions import db
from panel.models import Package
from panel.models.base import utcnow
from panel.services import measurement, reminders, usage, worker_status
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
        countdown = get_exponential_backoff_interval(
            factor=max(1, int(current_app.config["ONUS_MAIL_RETRY_BACKOFF"])),
            retries=self.request.retries,
            maximum=3600,
            full_jitter=True,
        )
        raise self.retry(exc=exc, countdown=countdown) from exc


def _node_settings() -> NodeSettings:
    return NodeSettings.from_config(current_app.config)


@celery_app.task(name="workers.tasks.measure_package")
def measure_package(package_id: int) -> int | None:
    """Measure one package now ("measure now"); runs on the package's node queue."""
    package = db.session.get(Package, package_id)
    if package is None:
        return None
    return measurement.measure_package(package, _node_settings()).total_bytes


@celery_app.task(name="workers.tasks.measure_node")
def measure_node(node_id: int) -> dict[str, int]:
    """Measure every package of a node; runs on that node's queue, where the files are."""
    return measurement.measure_node(node_id, _node_settings())


@celery_app.task(name="workers.tasks.measure_all")
def measure_all() -> int:
    """Beat's schedule: send each node's measurement to the node's own queue."""
    per_node = current_app.config["ONUS_NODE_QUEUES"]
    nodes = measurement.all_nodes()
    for node in nodes:
        measure_node.apply_async(args=[node.id], queue=measurement.node_queue(node, per_node))
    return len(nodes)


@celery_app.task(name="workers.tasks.downsample_usage")
def downsample_usage() -> int:
    """Beat's daily thinning of old usage history."""
    return usage.downsample(utcnow())


@celery_app.task(name="workers.tasks.send_agreement_reminders")
def send_agreement_reminders() -> dict[str, int]:
    """Beat's weekly mail to each hoster listing its packages without a complete agreement."""
    return reminders.send_agreement_reminders(utcnow())
