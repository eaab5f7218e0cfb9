"""Notifications: one row per message to one recipient on one channel, made when an alert
event needs telling, and what became of it (queued, sent, failed, bounced).

Routes never lead into the package in trouble: a contact the package serves is skipped.
Email and webhooks go out at once or wait for the party's daily digest (the pure core's
``delivery``); the panel inbox always gets the event at once. An acknowledgement is news
for machines only: the webhooks of the parties told hear it at once, nobody gets a mail.
Delivering is idempotent: a notification is claimed before it is sent, so a task run twice
sends one message; a webhook post says which notification it is, the same on every retry.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from kombu.exceptions import OperationalError
from sqlalchemy import Select, and_, func, or_, select, update

from panel.extensions import db
from panel.models import Alert, Contact, Notification, NotificationStatus, Package, Party
from panel.policy import alerts as policy
from panel.services import agreements, channels, messages, parties
from panel.services.mailer import is_transient, send_mail

if TYPE_CHECKING:
    from panel.services.bounces import Bounce

Status = NotificationStatus
DONE = (Status.SENT, Status.FAILED, Status.BOUNCED, Status.WITHDRAWN)
ACK_SALT = "onus-alert-ack"
# told to webhooks only, never counted against a party's daily mails (it alarms nobody)
ACKNOWLEDGED = "acknowledged"
SEND_TASK = "workers.tasks.send_notification"

log = logging.getLogger(__name__)


@dataclass
class Told:
    """The notifications one alert event made, and who could not be reached and why."""

    created: list[int] = field(default_factory=list)
    to_send: list[int] = field(default_factory=list)
    unreachable: dict[int, str] = field(default_factory=dict)


class DeliveryDeferred(Exception):
    """A hand-off failed in a way that may pass (server down, 4xx, webhook 5xx): retry."""


class DeliveryFailed(Exception):
    """A hand-off was refused for good (5xx, invalid address, webhook 4xx)."""


# --- routes -------------------------------------------------------------------------------------


def routes(party: Party, package: Package) -> tuple[list[tuple[str, str]], str]:
    """The (channel, recipient) pairs a warning about ``package`` may take to ``party``, and
    when there are none, why. A party without contacts is reached at its people's logins;
    any address the package itself serves is left out."""
    domains = agreements.package_domains(package)
    contacts = list(party.contacts) or [
        Contact(kind="email", value=m.user.email) for m in party.memberships if m.user.active
    ]
    usable = [c for c in contacts if not agreements.served_by(c, domains)]
    found = list(dict.fromkeys((c.kind, c.value) for c in usable))
    if found:
        return found, ""
    if not contacts:
        return [], f"{party.name} has no contact address"
    served = ", ".join(c.value for c in contacts)
    return [], f"{party.name} can only be reached at {served}, which {package.name} serves"


def _key(*parts: object) -> str:
    recipient = str(parts[-1])
    digest = hashlib.sha256(recipient.encode()).hexdigest()[:20]
    return ":".join(str(p) for p in parts[:-1]) + ":" + digest


def _immediate_query(party_ids: Collection[int], now: datetime) -> Select[tuple[int, int]]:
    """Per party, the immediate non-critical emails and webhooks made in the last day."""
    return (
        select(Notification.party_id, func.count())
        .join(Alert, Notification.alert_id == Alert.id)
        .where(
            Notification.party_id.in_(party_ids),
            Notification.created_at > now - timedelta(days=1),
            Notification.channel != "panel",
            Notification.digest_id.is_(None),
            Notification.kind != ACKNOWLEDGED,
            Notification.status.not_in((Status.HELD, Status.WITHDRAWN)),
            Alert.level != "critical",
        )
        .group_by(Notification.party_id)
    )


def count_immediate(party_ids: Collection[int], now: datetime) -> None:
    """Count the day's immediate mails of many parties at once, for ``immediate_today``.

    Counted once per party and moment, then kept up to date by ``notify`` in the session:
    a round that opens thousands of alerts must not count a party's day again for each."""
    counts = db.session.info.setdefault("immediate_today", {})
    wanted = sorted(p for p in party_ids if (p, now) not in counts)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found = {p: n for p, n in db.session.execute(_immediate_query(chunk, now))}
        for party_id in chunk:
            counts[(party_id, now)] = found.get(party_id, 0)


def immediate_today(party_id: int, now: datetime) -> int:
    """Immediate non-critical emails and webhooks made for the party in the last day."""
    count_immediate([party_id], now)
    return int(db.session.info["immediate_today"][(party_id, now)])


def forget_counts() -> None:
    """Drop the counts of ``immediate_today`` when what they counted was rolled back."""
    db.session.info.pop("immediate_today", None)


def _make(
    alert: Alert,
    party: Party,
    kind: str,
    route: tuple[str, str],
    status: str,
    now: datetime,
    made: set[str],
) -> Notification | None:
    """One notification of the alert's event to one route of the party; None when the same
    was made before (its dedup key is in ``made``, which it is added to)."""
    channel, recipient = route
    key = _key(f"a{alert.id}", kind, alert.step, alert.reminders, f"p{party.id}", *route)
    if key in made:
        return None
    made.add(key)
    notification = Notification(
        alert=alert,
        party_id=party.id,
        kind=kind,
        channel=channel,
        recipient=recipient,
        language=party.language,
        status=status,
        dedup_key=key,
        status_at=now,
        created_at=now,
        sent_at=now if status == Status.SENT else None,
    )
    db.session.add(notification)  # at once: the next party's lookup may flush
    return notification


def notify(alert: Alert, party_ids: Sequence[int], kind: str, now: datetime) -> Told:
    """Make the notifications for one event of ``alert`` (opened, raised, escalated,
    reminder, lowered, resolved) to each party: the panel inbox, and each usable route at
    once or in the digest. Making the same event twice makes nothing new."""
    told = Told()
    package = alert.package
    made = {n.dedup_key for n in alert.notifications}  # a new alert's list is empty
    fresh: list[Notification] = []
    for party_id in dict.fromkeys(party_ids):
        party = db.session.get(Party, party_id)
        if party is None:
            continue
        found, why = routes(party, package)
        if not found:
            told.unreachable[party_id] = why
        mode = policy.delivery(alert.level, kind, immediate_today(party_id, now))
        wanted = [(("panel", party.name), Status.SENT)] + [
            (route, Status.QUEUED if mode == "immediate" else Status.HELD) for route in found
        ]
        for route, status in wanted:
            notification = _make(alert, party, kind, route, status, now, made)
            if notification is None:
                continue
            fresh.append(notification)
            if status == Status.QUEUED and alert.level != "critical":
                db.session.info["immediate_today"][(party_id, now)] += 1
    db.session.flush()
    told.created = [n.id for n in fresh]
    told.to_send = [n.id for n in fresh if n.status == Status.QUEUED]
    return told


def notify_acknowledged(alert: Alert, party_ids: Collection[int], now: datetime) -> list[int]:
    """Tell each party's usable webhooks, at once, that the alert was acknowledged; no mail
    (people had theirs about the alert) and nothing in the inbox (the alert's history shows
    it). Making it twice makes nothing new. The ids to send."""
    made = {n.dedup_key for n in alert.notifications}
    fresh: list[Notification] = []
    for party_id in sorted(party_ids):
        party = db.session.get(Party, party_id)
        if party is None:
            continue
        found, _why = routes(party, alert.package)
        for route in found:
            if route[0] != "webhook":
                continue
            notification = _make(alert, party, ACKNOWLEDGED, route, Status.QUEUED, now, made)
            if notification is not None:
                fresh.append(notification)
    db.session.flush()
    return [n.id for n in fresh]


def reached(alert_id: int, party_id: int) -> bool:
    """Whether some email or webhook about the alert reached the party, or still may."""
    alive = (Status.SENT, Status.QUEUED, Status.SENDING, Status.HELD)
    direct = select(Notification.id).where(
        Notification.alert_id == alert_id,
        Notification.party_id == party_id,
        Notification.channel != "panel",
        Notification.status.in_(alive),
    )
    return db.session.scalars(direct.limit(1)).first() is not None


# --- digests ------------------------------------------------------------------------------------


def build_digests(now: datetime) -> list[int]:
    """One message per party and route carrying everything held for it: a hoster with many
    packages near a level gets one mail a day, not one per package."""
    held = db.session.scalars(
        select(Notification)
        .where(Notification.status == Status.HELD)
        .order_by(Notification.party_id, Notification.channel, Notification.recipient)
    ).all()
    groups: dict[tuple[int, str, str], list[Notification]] = {}
    for item in held:
        if item.kind == "reminder" and item.alert is not None and item.alert.open_key is None:
            # "still full" about what has been resolved since would contradict the summary
            item.status = Status.WITHDRAWN
            item.status_at = now
            continue
        groups.setdefault((item.party_id, item.channel, item.recipient), []).append(item)
    made = []
    for (party_id, channel, recipient), items in groups.items():
        key = _key(
            "digest", f"p{party_id}", now.date().isoformat(), items[0].id, channel, recipient
        )
        digest = Notification(
            alert_id=None,
            party_id=party_id,
            kind="digest",
            channel=channel,
            recipient=recipient,
            language=items[0].language,
            status=Status.QUEUED,
            dedup_key=key,
            status_at=now,
            created_at=now,
        )
        db.session.add(digest)
        db.session.flush()
        for item in items:
            item.digest_id = digest.id
            item.status = Status.QUEUED
            item.status_at = now
        made.append(digest.id)
    db.session.commit()
    return made


# --- delivering ---------------------------------------------------------------------------------


def _lease() -> timedelta:
    return timedelta(seconds=int(current_app.config["ONUS_SEND_LEASE"]))


def _settle(notification: Notification, status: str, now: datetime, error: str = "") -> None:
    """Record what became of a notification, and of the items a digest carried."""
    notification.status = status
    notification.status_at = now
    notification.error = error[:500]
    if status == Status.SENT:
        notification.sent_at = now
    if notification.kind == "digest":
        db.session.execute(
            update(Notification)
            .where(Notification.digest_id == notification.id)
            .values(status=status, status_at=now, error=error[:500], sent_at=notification.sent_at)
        )


def _message_id(notification: Notification) -> str:
    domain = str(current_app.config["ONUS_MAIL_FROM"]).rpartition("@")[2] or "localhost"
    return f"<onus.{notification.id}.{notification.dedup_key[-12:]}@{domain}>"


def _webhook(notification: Notification) -> Contact:
    """The party's webhook contact a notification goes to. One removed since the
    notification was made is not posted to: its key is gone, and so is the party's wish."""
    contact = db.session.scalars(
        select(Contact)
        .where(
            Contact.party_id == notification.party_id,
            Contact.kind == "webhook",
            Contact.value == notification.recipient,
        )
        .order_by(Contact.id)
    ).first()
    if contact is None:
        raise channels.WebhookError(
            "the webhook was removed from the party's contacts", transient=False
        )
    return contact


def _hand_off(notification: Notification, now: datetime) -> str | None:
    outgoing = messages.compose(notification, now)
    if notification.channel == "webhook":
        contact = _webhook(notification)
        channels.post_webhook(
            notification.recipient,
            outgoing.document,
            contact.webhook_format,
            secret=parties.webhook_secret(contact),
            delivery=str(notification.id),  # the same on every retry: receivers de-duplicate
        )
        return None
    return send_mail(
        notification.recipient,
        outgoing.subject,
        outgoing.text,
        outgoing.html,
        message_id=_message_id(notification),
        envelope_from=channels.verp_address(notification.id),
        headers={"Auto-Submitted": "auto-generated", "X-Onus-Notification": str(notification.id)},
    )


def deliver(notification_id: int, claimant: str, now: datetime) -> str:
    """Send one notification once: claim it (a task redelivered after a crash keeps its
    claim; another waits for the lease to run out), hand it off, record the outcome.

    Returns the status; raises :class:`DeliveryDeferred` for a failure worth retrying and
    :class:`DeliveryFailed` for a refusal (the notification is then failed).
    """
    notification = db.session.get(Notification, notification_id)
    if notification is None:
        return "missing"
    if notification.status in DONE or notification.status == Status.HELD:
        return str(notification.status)
    claimed = db.session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            or_(
                Notification.status == Status.QUEUED,
                and_(
                    Notification.status == Status.SENDING,
                    or_(
                        Notification.claimed_by == claimant,
                        Notification.claimed_at < now - _lease(),
                    ),
                ),
            ),
        )
        .values(
            status=Status.SENDING,
            claimed_by=claimant[:64],
            claimed_at=now,
            attempts=Notification.attempts + 1,  # counted before: a killed attempt counts
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if claimed.rowcount == 0:  # type: ignore[attr-defined]
        return "busy"
    db.session.refresh(notification)
    try:
        message_id = _hand_off(notification, now)
    except Exception as exc:
        reason = failure_reason(exc)
        if is_transient(exc):
            _settle(notification, Status.QUEUED, now, reason)
            db.session.commit()
            raise DeliveryDeferred(reason) from exc
        _settle(notification, Status.FAILED, now, reason)
        db.session.commit()
        raise DeliveryFailed(reason) from exc
    notification.message_id = message_id
    _settle(notification, Status.SENT, now)
    db.session.commit()
    return str(Status.SENT)


def send_soon(notification_ids: Sequence[int]) -> None:
    """Queue the sending of notifications a committed transaction made, by the task's name
    (services do not import the workers). A broker that cannot take them loses nothing: the
    alert round sends what stays queued past the lease."""
    celery = current_app.extensions["celery"]
    for notification_id in notification_ids:
        try:
            celery.send_task(SEND_TASK, args=[notification_id])
        except OperationalError:
            log.warning("notification %s not queued (broker unreachable)", notification_id)
            return


def failure_reason(exc: BaseException) -> str:
    """What went wrong with a hand-off, as the server or webhook said it."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{code} {reply.decode(errors='replace')}" for code, reply in exc.recipients.values()
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        return f"{exc.smtp_code} {text}"
    if isinstance(exc, channels.WebhookError):
        return exc.reason
    return f"{type(exc).__name__}: {exc}"


def give_up(notification_id: int, now: datetime) -> None:
    """After the last retry: the notification failed, with the last reason kept."""
    notification = db.session.get(Notification, notification_id)
    if notification is not None and notification.status not in DONE:
        _settle(notification, Status.FAILED, now, notification.error or "no more retries")
        db.session.commit()


def stuck(now: datetime) -> list[int]:
    """Notifications queued or being sent for longer than the lease with nothing finished:
    their task was lost (a broker wiped, a crash before the task was queued). Sending them
    again is safe: delivering claims first."""
    cut = now - _lease()
    return list(
        db.session.scalars(
            select(Notification.id).where(
                or_(
                    and_(Notification.status == Status.QUEUED, Notification.status_at < cut),
                    and_(Notification.status == Status.SENDING, Notification.claimed_at < cut),
                )
            )
        )
    )


def record_bounce(bounce: Bounce, now: datetime) -> Notification | None:
    """A bounce came back for one of our warnings: it was not delivered after all."""
    if bounce.notification_id is None or not bounce.permanent:
        return None
    notification = db.session.get(Notification, bounce.notification_id)
    if notification is None or notification.channel != "email":
        return None
    detail = " ".join(x for x in (bounce.status or "", bounce.diagnostic) if x)
    _settle(notification, Status.BOUNCED, now, detail or "bounced")
    db.session.commit()
    return notification


# --- acknowledge links --------------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=ACK_SALT)


def ack_token(alert_id: int, party_id: int) -> str:
    return _serializer().dumps([alert_id, party_id])


def read_ack_token(token: str) -> tuple[int, int] | None:
    """The (alert, party) of a signed acknowledge link; None when forged or expired."""
    try:
        alert_id, party_id = _serializer().loads(
            token, max_age=int(current_app.config["ONUS_ACK_LINK_MAX_AGE"])
        )
    except (BadSignature, SignatureExpired, ValueError, TypeError):
        return None
    if not isinstance(alert_id, int) or not isinstance(party_id, int):
        return None
    return alert_id, party_id


def ack_link(alert_id: int, party_id: int) -> str:
    base = str(current_app.config["ONUS_BASE_URL"]).rstrip("/")
    return f"{base}/ack/{ack_token(alert_id, party_id)}"


def inbox(party_id: int, limit: int = 100) -> list[Notification]:
    """The party's panel inbox, newest first."""
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.party_id == party_id, Notification.channel == "panel")
            .order_by(Notification.id.desc())
            .limit(limit)
        )
    )
