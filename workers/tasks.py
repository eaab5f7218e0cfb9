"""Thin Celery tasks: each calls one service."""

from __future__ import annotations

import smtplib
import socket

from celery import Task
from celery.utils.time import get_exponential_backoff_interval
from flask import current_app

from workers import celery_app


@celery_app.task(name="workers.tasks.record_heartbeat")
def record_heartbeat() -> str:
    """Beat's proof of life, shown to the hoster on the dashboard."""
    from panel.services.worker_status import record_heartbeat as record

    return record(socket.gethostname()).isoformat()


@celery_app.task(bind=True, name="workers.tasks.send_invitation", max_retries=12)
def send_invitation(self: Task, invitation_id: int, link: str) -> str:
    """Mail an invitation link; a dead SMTP server is retried with backoff, not dropped.

    The delay starts at ``ONUS_MAIL_RETRY_BACKOFF`` seconds and doubles per retry (full jitter),
    up to an hour. A permanent refusal (5xx) fails the task at once, with the server's reply.
    """
    from panel.services.mailer import is_transient, send_invitation_mail

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
