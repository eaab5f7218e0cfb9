"""Prometheus figures for /metrics, as the person behind an API token sees them.

Every figure is read through :func:`panel.services.scope.scoped`, so a hoster's token gives
its whole tenancy and a builder's or owner's only their packages (and none of the mail logs,
which are the hoster's business). A scrape is a fixed handful of aggregate queries, however
many packages there are; a fresh registry per request keeps one tenant's figures out of
another's scrape.

Refusals are counters over ``MailFlowHour``: it counts each refused *message* once, from the
logs and from the policy service alike, and nothing prunes it, so the sums never go down.
``MailRefusal`` is the evidence, one row per refusal *answer*: the policy service's
temporary refusals add a row on every retry of the same message.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func

from panel.extensions import db
from panel.models import (
    Alert,
    HostingNode,
    MailFlowHour,
    MailLogSource,
    Notification,
    Package,
    PackageUsage,
    Plan,
    WorkerHeartbeat,
)
from panel.policy.agreement import LEVELS
from panel.services.dashboard import UNRESOLVED
from panel.services.scope import Actor, scoped

PARTS = ("mail", "site", "database", "other")  # PackageUsage's <part>_bytes columns
REFUSALS = ("bounced", "rejected")  # MailFlowHour's refused results


class ScopeCollector(Collector):
    """Yields the actor's figures when the registry is rendered."""

    def __init__(self, actor: Actor) -> None:
        self.actor = actor

    def collect(self) -> Iterator[Metric]:
        names = yield from _packages(self.actor)
        yield from _refusals(self.actor, names)
        yield from _alerts(self.actor)
        yield from _notifications(self.actor)
        if self.actor.is_hoster:  # the logs and workers are the hoster's business
            yield from _mail_logs(self.actor)
            yield from _workers()


def render(actor: Actor) -> bytes:
    """The actor's figures in the Prometheus text format."""
    registry = CollectorRegistry()
    registry.register(ScopeCollector(actor))
    return generate_latest(registry)


def _packages(actor: Actor) -> Generator[Metric, None, dict[int, str]]:
    """Quota, latest usage and last scan per package (one query); returns id -> name."""
    rows = db.session.execute(
        scoped(Package, actor)
        .with_only_columns(
            Package.id,
            Package.name,
            Plan.storage_quota_bytes,
            PackageUsage.measured_at,
            PackageUsage.total_bytes,
            *(getattr(PackageUsage, f"{part}_bytes") for part in PARTS),
            PackageUsage.scan_seconds,
            PackageUsage.skipped,
        )
        .join(Plan, Plan.id == Package.plan_id)
        .outerjoin(PackageUsage, PackageUsage.package_id == Package.id)
        .order_by(Package.name)
    ).all()
    quota = GaugeMetricFamily(
        "onus_package_quota_bytes", "Storage the package's plan allows.", labels=["package"]
    )
    used = GaugeMetricFamily(
        "onus_package_used_bytes", "Storage the package used at its last scan.", labels=["package"]
    )
    parts = GaugeMetricFamily(
        "onus_package_part_bytes",
        "Storage per part (mail, site, database, other) at the package's last scan.",
        labels=["package", "part"],
    )
    measured = GaugeMetricFamily(
        "onus_package_measured_timestamp_seconds",
        "When the package was last scanned (Unix time).",
        labels=["package"],
    )
    scan = GaugeMetricFamily(
        "onus_package_scan_duration_seconds",
        "How long the package's last scan took.",
        labels=["package"],
    )
    skipped = GaugeMetricFamily(
        "onus_package_scan_skipped",
        "Paths the package's last scan could not read.",
        labels=["package"],
    )
    names: dict[int, str] = {}
    for package_id, name, quota_bytes, measured_at, total, *part_bytes, seconds, unread in rows:
        names[package_id] = name
        quota.add_metric([name], quota_bytes)
        if measured_at is None:  # never scanned: a quota, no usage
            continue
        used.add_metric([name], total)
        for part, value in zip(PARTS, part_bytes, strict=True):
            parts.add_metric([name, part], value)
        measured.add_metric([name], measured_at.timestamp())
        scan.add_metric([name], seconds)
        skipped.add_metric([name], unread)
    yield from (quota, used, parts, measured, scan, skipped)
    return names


def _refusals(actor: Actor, names: dict[int, str]) -> Iterator[Metric]:
    """Messages refused per package, ever (one query); zero for a package without any, so a
    first refusal is an increase and not a new series."""
    sums = {
        package_id: figures
        for package_id, *figures in db.session.execute(
            scoped(MailFlowHour, actor)
            .with_only_columns(
                MailFlowHour.package_id,
                *(func.sum(getattr(MailFlowHour, result)) for result in REFUSALS),
                func.sum(MailFlowHour.over_quota),
            )
            .group_by(MailFlowHour.package_id)
        )
    }
    refused = CounterMetricFamily(
        "onus_mail_refused",
        "Messages refused for the package's mailboxes, by result: bounced after queueing or "
        "rejected at SMTP time.",
        labels=["package", "result"],
    )
    over_quota = CounterMetricFamily(
        "onus_mail_refused_over_quota",
        "Of the refused messages, those refused because the mailbox was full.",
        labels=["package"],
    )
    for package_id, name in names.items():
        *by_result, full = sums.get(package_id, [0] * (len(REFUSALS) + 1))
        for result, value in zip(REFUSALS, by_result, strict=True):
            refused.add_metric([name, result], int(value or 0))
        over_quota.add_metric([name], int(full or 0))
    yield from (refused, over_quota)


def _alerts(actor: Actor) -> Iterator[Metric]:
    """Unresolved alerts by level and status (one query), every pair present."""
    counts = {(level, str(status)): 0 for level in LEVELS for status in UNRESOLVED}
    for level, status, count in db.session.execute(
        scoped(Alert, actor)
        .with_only_columns(Alert.level, Alert.status, func.count())
        .where(Alert.status.in_(UNRESOLVED))
        .group_by(Alert.level, Alert.status)
    ):
        counts[(level, status)] = count
    family = GaugeMetricFamily(
        "onus_alerts",
        "Unresolved alerts by level and status (open: nobody acknowledged it yet).",
        labels=["level", "status"],
    )
    for (level, status), count in sorted(counts.items()):
        family.add_metric([level, status], count)
    yield family


def _notifications(actor: Actor) -> Iterator[Metric]:
    """Notifications by channel and what became of them (one query). A gauge: a
    notification moves from queued to sent, failed or bounced."""
    family = GaugeMetricFamily(
        "onus_notifications",
        "Notifications by channel and status (held, queued, sending, sent, failed, bounced, "
        "withdrawn).",
        labels=["channel", "status"],
    )
    for channel, status, count in db.session.execute(
        scoped(Notification, actor)
        .with_only_columns(Notification.channel, Notification.status, func.count())
        .group_by(Notification.channel, Notification.status)
        .order_by(Notification.channel, Notification.status)
    ):
        family.add_metric([channel, status], count)
    yield family


def _mail_logs(actor: Actor) -> Iterator[Metric]:
    """Per mail log followed: how its last read went (one query)."""
    labels = ["node", "path"]
    duration = GaugeMetricFamily(
        "onus_mail_log_read_duration_seconds", "How long the log's last read took.", labels=labels
    )
    lines = CounterMetricFamily(
        "onus_mail_log_lines_read", "Lines read from the log.", labels=labels
    )
    skipped = CounterMetricFamily(
        "onus_mail_log_lines_skipped",
        "Lines of the log that could not be understood and were skipped.",
        labels=labels,
    )
    read_at = GaugeMetricFamily(
        "onus_mail_log_last_read_timestamp_seconds",
        "When the log was last read (Unix time).",
        labels=labels,
    )
    record_at = GaugeMetricFamily(
        "onus_mail_log_last_record_timestamp_seconds",
        "The time of the newest delivery record read from the log (Unix time).",
        labels=labels,
    )
    failing = GaugeMetricFamily(
        "onus_mail_log_failing", "1 when the log's last read failed, else 0.", labels=labels
    )
    for node, path, seconds, read, unread, last_read, last_record, error in db.session.execute(
        scoped(MailLogSource, actor)
        .with_only_columns(
            HostingNode.name,
            MailLogSource.path,
            MailLogSource.last_read_seconds,
            MailLogSource.lines_read,
            MailLogSource.lines_skipped,
            MailLogSource.last_read_at,
            MailLogSource.last_record_at,
            MailLogSource.last_error,
        )
        .join(HostingNode, HostingNode.id == MailLogSource.node_id)
        .order_by(HostingNode.name, MailLogSource.path)
    ):
        key = [node, path]
        lines.add_metric(key, read)
        skipped.add_metric(key, unread)
        failing.add_metric(key, 1 if error else 0)
        if seconds is not None:
            duration.add_metric(key, seconds)
        if last_read is not None:
            read_at.add_metric(key, last_read.timestamp())
        if last_record is not None:
            record_at.add_metric(key, last_record.timestamp())
    yield from (duration, lines, skipped, read_at, record_at, failing)


def _workers() -> Iterator[Metric]:
    """When a background worker last beat, as the hoster's dashboard shows it."""
    family = GaugeMetricFamily(
        "onus_worker_last_seen_timestamp_seconds",
        "When a background worker last ran its heartbeat (Unix time).",
    )
    last_seen = db.session.scalar(func.max(WorkerHeartbeat.last_seen).select())
    if last_seen is not None:
        family.add_metric([], last_seen.timestamp())
    yield family
