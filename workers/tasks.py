"""Thin Celery tasks: each calls one service."""

from __future__ import annotations

import smtplib
import socket

from workers import celery_app


@celery_app.task(name="workers.tasks.record_heartbeat")
def record_heartbeat() -> str:
    """Beat's proof of life, shown to the hoster on the dashboard."""
    from panel.services.worker_status import record_heartbeat as record

    return record(socket.gethostname()).isoformat()


@celery_app.task(
    name="workers.tasks.send_invitation",
    autoretry_for=(OSError, smtplib.SMTPException),
    retry_backoff=30,
    retry_backoff_max=3600,
    max_retries=12,
)
def send_invitation(invitation_id: int, link: str) -> str:
    """Mail an invitation link; a dead SMTP server is retried with backoff, not dropped."""
    from panel.services.mailer import send_invitation_mail

    return send_invitation_mail(invitation_id, link)
