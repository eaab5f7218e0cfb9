"""The Celery app, configured from the Flask app.

``celery -A workers worker`` finds ``workers.app``, which builds the Flask app on first use,
so a worker reads the same ``ONUS_*`` settings as the web.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

from celery import Celery, Task
from celery.schedules import crontab
from flask import Flask

celery_app = Celery("onus")


def init_celery(app: Flask) -> Celery:
    """Bind the Celery app to ``app``: its settings, an app context per task, beat's schedule."""

    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app.config_from_object(app.config["CELERY"])
    celery_app.conf.beat_schedule = {
        "worker-heartbeat": {
            "task": "workers.tasks.record_heartbeat",
            "schedule": timedelta(seconds=60),
        },
        "measure-all-nodes": {
            "task": "workers.tasks.measure_all",
            "schedule": timedelta(seconds=app.config["ONUS_MEASURE_EVERY"]),
        },
        "downsample-usage": {
            "task": "workers.tasks.downsample_usage",
            "schedule": timedelta(hours=24),
        },
        "alert-rounds": {
            "task": "workers.tasks.alert_rounds",
            "schedule": timedelta(seconds=app.config["ONUS_ALERT_ROUND_EVERY"]),
        },
        "alert-digests": {
            "task": "workers.tasks.send_digests",
            "schedule": crontab(minute=0, hour=app.config["ONUS_DIGEST_HOUR"]),
        },
        "mail-logs": {
            "task": "workers.tasks.ingest_all_mail_logs",
            "schedule": timedelta(seconds=app.config["ONUS_MAIL_LOG_EVERY"]),
        },
        "agreement-reminders": {
            "task": "workers.tasks.send_agreement_reminders",
            "schedule": timedelta(days=7),
        },
    }
    celery_app.Task = FlaskTask
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    import workers.tasks  # noqa: F401  (registers the tasks)

    return celery_app


def worker_command(*options: str) -> list[str]:
    """The command line that starts a Celery worker for this app, with ``options``."""
    return [sys.executable, "-m", "celery", "-A", "workers", "worker", *options]


def __getattr__(name: str) -> Celery:
    if name == "app":
        from panel import create_app

        return create_app().extensions["celery"]
    raise AttributeError(name)
