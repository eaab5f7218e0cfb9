"""Measuring packages where their files are: paths from the node's layout, the pure scanner,
the database servers, and the result kept as usage history."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from panel.collectors.databases import measure_database_sizes
from panel.extensions import db
from panel.measure import ScanCache, scan_account
from panel.models import HostingNode, Package, PackageStatus, PackageUsage
from panel.models.base import utcnow
from panel.services import usage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeSettings:
    """What a worker on a hosting node knows locally: its cache folder and database servers."""

    cache_dir: Path
    mysql_url: str | None
    postgres_url: str | None

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> NodeSettings:
        return cls(
            cache_dir=Path(config["ONUS_SCAN_CACHE_DIR"]),
            mysql_url=config["ONUS_MYSQL_URL"] or None,
            postgres_url=config["ONUS_POSTGRES_URL"] or None,
        )


def node_queue(node: HostingNode, config: Mapping[str, Any]) -> str:
    """The Celery queue that a worker on ``node`` consumes with per-node queues on
    (production), else the one queue the embedded worker takes everything from."""
    if config["ONUS_NODE_QUEUES"]:
        return f"node.{node.name}"
    return str(config["CELERY"].get("task_default_queue", "celery"))


def all_nodes() -> list[HostingNode]:
    """Every hosting node of every hoster: measuring is the system's own job."""
    return list(db.session.scalars(select(HostingNode).order_by(HostingNode.id)))


def package_paths(package: Package) -> tuple[Path, dict[str, Path], dict[str, Path]]:
    """The package's home, mailbox folders (by address) and docroots (by relative path),
    from its node's path templates (placeholders were checked when the node was saved)."""
    node = package.node
    home = node.home_template.format(package=package.name)
    mailboxes = {}
    for mailbox in package.mailboxes:
        local, _at, domain = mailbox.address.partition("@")
        mailboxes[mailbox.address] = Path(
            node.mail_template.format(home=home, domain=domain, local=local)
        )
    sites = {site.docroot: Path(home) / site.docroot for site in package.sites}
    return Path(home), mailboxes, sites


def _load_cache(path: Path) -> ScanCache:
    try:
        return ScanCache.load(path.read_bytes())
    except FileNotFoundError:
        return ScanCache()
    except Exception:  # a damaged cache costs one full scan, never a measurement
        log.warning("scan cache %s unreadable; scanning in full", path)
        return ScanCache()


def _save_cache(path: Path, cache: ScanCache) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_bytes(cache.dump())
    os.replace(partial, path)


def measure_package(
    package: Package, settings: NodeSettings, at: datetime | None = None
) -> PackageUsage:
    """Scan the package's files and databases now and record the result (as taken ``at``,
    when a replay of the past says when)."""
    home, mailboxes, sites = package_paths(package)
    cache_file = settings.cache_dir / f"package-{package.id}.cache"
    cache = _load_cache(cache_file)
    measured_at = at or utcnow()
    started = time.perf_counter()
    report = scan_account(home, mailboxes, sites, cache)
    sizes = measure_database_sizes(
        [(d.engine, d.name) for d in package.databases],
        settings.mysql_url,
        settings.postgres_url,
    )
    report["databases"] = {
        size.name: {"engine": size.engine, "bytes": size.bytes, "error": size.error}
        for size in sizes
    }
    seconds = time.perf_counter() - started
    _save_cache(cache_file, cache)
    return usage.record_measurement(package, report, measured_at, seconds)


def package_ids(node_id: int) -> list[int]:
    """The packages on a node that still have files: what a node's measurement covers."""
    return list(
        db.session.scalars(
            select(Package.id)
            .where(Package.node_id == node_id, Package.status != PackageStatus.CANCELLED)
            .order_by(Package.id)
        )
    )


def measure_node(node_id: int, settings: NodeSettings) -> dict[str, int]:
    """Measure every package on a node that still has files; one failing package is logged
    and counted, and the others are measured all the same."""
    outcome = {"measured": 0, "failed": 0}
    for package in [db.session.get_one(Package, i) for i in package_ids(node_id)]:
        try:
            measure_package(package, settings)
        except Exception:
            db.session.rollback()
            log.exception("measuring package %s failed", package.name)
            outcome["failed"] += 1
        else:
            outcome["measured"] += 1
    return outcome
