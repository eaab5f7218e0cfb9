"""Whether background work is running: the heartbeat beat schedules every minute."""

from __future__ import annotations

from datetime import datetime

from panel.extensions import db
from panel.models import WorkerHeartbeat
from panel.models.base import utcnow


def record_heartbeat(hostname: str) -> datetime:
    now = utcnow()
    beat = db.session.get(WorkerHeartbeat, hostname)
    if beat is None:
        db.session.add(WorkerHeartbeat(hostname=hostname, last_seen=now))
    else:
        beat.last_seen = now
    db.session.commit()
    return now
