"""A scan report as a few lines of text, for ``onus scan PATH`` without ``--json``."""

from __future__ import annotations

from typing import Any

from panel.measure.units import format_size


def _problems(report: dict[str, Any], indent: str) -> list[str]:
    skipped = report.get("skipped") or {}
    if not skipped:
        return []
    counts = ", ".join(f"{reason} {count}" for reason, count in skipped.items())
    lines = [f"{indent}skipped: {counts}"]
    lines.extend(f"{indent}  {message}" for message in report.get("errors", [])[:5])
    return lines


def _maildir(report: dict[str, Any], indent: str) -> list[str]:
    if report.get("missing"):
        return [f"{indent}(folder does not exist yet)"]
    lines = []
    for name, folder in report["folders"].items():
        size = format_size(folder["bytes"])
        lines.append(f"{indent}{name:24} {size:>10}  {folder['messages']} messages")
    lines.append(
        f"{indent}{'(index and other files)':24} {format_size(report['other']['bytes']):>10}"
    )
    quota = report.get("maildirsize")
    if quota:
        limit = format_size(quota["quota_bytes"]) if quota["quota_bytes"] is not None else "none"
        state = "stale" if quota["stale"] else "agrees"
        lines.append(f"{indent}maildirsize: quota {limit}, {state}")
    return lines


def _docroot(report: dict[str, Any], indent: str) -> list[str]:
    if report.get("missing"):
        return [f"{indent}(folder does not exist yet)"]
    lines = [
        f"{indent}{part:24} {format_size(figures['bytes']):>10}  {figures['files']} files"
        for part, figures in report["parts"].items()
    ]
    if report["largest"]:
        top = report["largest"][0]
        lines.append(f"{indent}largest file: {top['path']} ({format_size(top['bytes'])})")
    old = report["stale_backups"]
    if old:
        total = format_size(sum(item["bytes"] for item in old))
        lines.append(f"{indent}backups older than 30 days: {len(old)} files, {total}")
    return lines


def _title(report: dict[str, Any]) -> str:
    kind = report["kind"]
    if kind == "maildir":
        return f"Maildir, {report['messages']} messages"
    if kind == "account":
        return f"account ({report.get('layout', 'home')})"
    version = f" {report['version']}" if report.get("version") else ""
    return f"{kind}{version} site, {report['files']} files"


def summary_lines(report: dict[str, Any]) -> list[str]:
    """Total first, then the split: mailboxes and folders, sites and parts, the rest."""
    lines = [f"{report['path']}: {format_size(report['bytes'])} — {_title(report)}"]
    if report["kind"] == "maildir":
        lines.extend(_maildir(report, "  "))
    elif report["kind"] == "account":
        for address, box in report["mailboxes"].items():
            lines.append(f"  mailbox {address}: {format_size(box['bytes'])}")
            lines.extend(_maildir(box, "    "))
        for rel, site in report["sites"].items():
            lines.append(f"  site {rel}: {format_size(site['bytes'])} — {_title(site)}")
            lines.extend(_docroot(site, "    "))
        lines.append(f"  other files: {format_size(report['other']['bytes'])}")
    else:
        lines.extend(_docroot(report, "  "))
    lines.extend(_problems(report, "  "))
    return lines
