"""Docroot measurement: which CMS (name and version, from its own files) and where the bytes
go, part by part — the split a builder needs to see what to clean up.

Parts, by CMS (a folder's part is decided by its path from the docroot; deeper folders
inherit it; the parts add up to ``bytes``):

- WordPress: ``core`` (all outside ``wp-content/``), ``plugins`` (``plugins/``,
  ``mu-plugins/``), ``themes``, ``uploads`` (without the backup folders in it), ``backups``
  (UpdraftPlus, All-in-One WP Migration, Duplicator, BackWPup, WPvivid, BackupBuddy, Backup
  Guard, BackUpWordPress, WP Staging, Solid Security and similar folders), ``cache``
  (``cache/``), ``other`` (the rest of ``wp-content/``).
- Joomla: ``core``, ``images``, ``media``, ``cache`` (``cache/``, ``administrator/cache/``),
  ``tmp``, ``logs``, ``backups`` (Akeeba's backup folders).
- Drupal: ``core``, ``modules``, ``themes``, ``files`` (``sites/*/files``), ``cache``
  (aggregated CSS/JS and compiled PHP in the files folder), ``backups`` (Backup and Migrate).
- OpenCart: ``core``, ``image``, ``image_cache`` (``image/cache``), ``storage``
  (``system/storage``), ``backups`` (``system/storage/backup``).
- Anything else is ``static``, with one part ``files``.

``largest`` names the ten largest files; ``stale_backups`` the backup files older than 30
days (in a backups part: every file but logs and guard files; elsewhere: archives named as
backups, ``.sql`` dumps, ``.wpress``/``.jpa`` and the like), at most 50, largest first.
"""

from __future__ import annotations

import os
import re
from fnmatch import fnmatchcase
from typing import Any

from panel.measure.walk import (
    Context,
    Findings,
    Problems,
    Totals,
    display,
    gc_paused,
    lstat_kind,
    read_small,
    walk,
)

Rule = tuple[tuple[str, ...], str]

_WP: list[Rule] = [
    (("wp-content",), "other"),
    (("wp-content", "plugins"), "plugins"),
    (("wp-content", "mu-plugins"), "plugins"),
    (("wp-content", "themes"), "themes"),
    (("wp-content", "uploads"), "uploads"),
    (("wp-content", "cache"), "cache"),
    (("wp-content", "updraft"), "backups"),
    (("wp-content", "ai1wm-backups"), "backups"),
    (("wp-content", "backups-dup-lite"), "backups"),
    (("wp-content", "backups-dup-pro"), "backups"),
    (("wp-content", "wpvividbackups"), "backups"),
    (("wp-content", "backup-db"), "backups"),
    (("wp-content", "backups"), "backups"),
    (("wp-content", "backupwordpress-*-backups"), "backups"),
    (("wp-content", "wpbackitup_backups"), "backups"),
    (("wp-content", "uploads", "backwpup-*-backups"), "backups"),
    (("wp-content", "uploads", "backwpup", "*", "backups"), "backups"),
    (("wp-content", "uploads", "backupbuddy_backups"), "backups"),
    (("wp-content", "uploads", "backup-guard"), "backups"),
    (("wp-content", "uploads", "wpvividbackups"), "backups"),
    (("wp-content", "uploads", "wp-staging", "backups"), "backups"),
    (("wp-content", "uploads", "ithemes-security", "backups"), "backups"),
    (("wp-content", "uploads", "solid-security", "backups"), "backups"),
    (("wp-content", "uploads", "wp-clone"), "backups"),
]
_JOOMLA: list[Rule] = [
    (("images",), "images"),
    (("media",), "media"),
    (("cache",), "cache"),
    (("administrator", "cache"), "cache"),
    (("tmp",), "tmp"),
    (("logs",), "logs"),
    (("administrator", "logs"), "logs"),
    (("administrator", "components", "com_akeeba", "backup"), "backups"),
    (("administrator", "components", "com_akeebabackup", "backup"), "backups"),
    (("administrator", "components", "com_akeeba", "backups"), "backups"),
    (("administrator", "components", "com_akeebabackup", "backups"), "backups"),
]
_DRUPAL: list[Rule] = [
    (("modules",), "modules"),
    (("themes",), "themes"),
    (("profiles",), "modules"),
    (("sites", "*", "modules"), "modules"),
    (("sites", "*", "themes"), "themes"),
    (("sites", "*", "files"), "files"),
    (("sites", "*", "files", "css"), "cache"),
    (("sites", "*", "files", "js"), "cache"),
    (("sites", "*", "files", "php"), "cache"),
    (("sites", "*", "files", "backup_migrate"), "backups"),
    (("sites", "*", "private", "backup_migrate"), "backups"),
    (("private", "backup_migrate"), "backups"),
]
# Drupal 7 keeps its own modules and themes in /modules and /themes: those are core.
_DRUPAL7 = [rule for rule in _DRUPAL if rule[0][0] not in ("modules", "themes", "profiles")]
_OPENCART: list[Rule] = [
    (("image",), "image"),
    (("image", "cache"), "image_cache"),
    (("system", "storage"), "storage"),
    (("system", "storage", "backup"), "backups"),
]

PARTS: dict[str, tuple[str, ...]] = {
    "wordpress": ("core", "plugins", "themes", "uploads", "backups", "cache", "other"),
    "joomla": ("core", "images", "media", "cache", "tmp", "logs", "backups"),
    "drupal": ("core", "modules", "themes", "files", "cache", "backups"),
    "opencart": ("core", "image", "image_cache", "storage", "backups"),
    "static": ("files",),
}


def _classifier(rules: list[Rule]) -> tuple[Any, int]:
    """A function from a folder's path (tuple of names) to its part, and the depth it needs."""
    exact: dict[tuple[str, ...], str] = {}
    patterns: list[Rule] = []
    for path, part in rules:
        if any("*" in name for name in path):
            patterns.append((path, part))
        else:
            exact.setdefault(path, part)

    def classify(rel: tuple[str, ...]) -> str | None:
        part = exact.get(rel)
        if part is not None:
            return part
        for path, candidate in patterns:
            if len(path) == len(rel) and all(map(fnmatchcase, rel, path)):
                return candidate
        return None

    return classify, max((len(path) for path, _ in rules), default=0)


_CLASSIFIERS = {
    "wordpress": _classifier(_WP),
    "joomla": _classifier(_JOOMLA),
    "drupal": _classifier(_DRUPAL),
    "drupal7": _classifier(_DRUPAL7),
    "opencart": _classifier(_OPENCART),
}


def _text(path: str) -> str:
    data = read_small(path)
    return data.decode("utf-8", "replace") if data else ""


def _match(pattern: str, text: str) -> str | None:
    found = re.search(pattern, text)
    return found.group(1) if found else None


def _joomla_version(root: str) -> str | None:
    text = _text(root + "/libraries/src/Version.php")
    if text:
        numbers = [
            _match(rf"{part}_VERSION\s*=\s*(\d+)\s*;", text) for part in ("MAJOR", "MINOR", "PATCH")
        ]
        if all(numbers):
            version = ".".join(n for n in numbers if n)
            extra = _match(r"EXTRA_VERSION\s*=\s*['\"]([^'\"]*)['\"]", text)
            return f"{version}-{extra}" if extra else version
    text = _text(root + "/libraries/cms/version/version.php")
    release = _match(r"\$RELEASE\s*=\s*['\"]([^'\"]+)['\"]", text)
    if release:
        level = _match(r"\$DEV_LEVEL\s*=\s*['\"]([^'\"]+)['\"]", text)
        return f"{release}.{level}" if level else release
    text = _text(root + "/administrator/manifests/files/joomla.xml")
    return _match(r"<version>\s*([^<\s]+)\s*</version>", text)


def detect(root: str) -> tuple[str, str | None, str]:
    """(kind, version, classifier name) of the docroot at ``root``, from the CMS's own files."""
    root = root.rstrip("/") or "/"
    if lstat_kind(root + "/wp-includes/version.php") == "file" or (
        lstat_kind(root + "/wp-includes") == "dir" and lstat_kind(root + "/wp-content") == "dir"
    ):
        version = _match(
            r"\$wp_version\s*=\s*['\"]([^'\"]+)['\"]", _text(root + "/wp-includes/version.php")
        )
        return "wordpress", version, "wordpress"
    if any(
        lstat_kind(root + marker) == "file"
        for marker in (
            "/libraries/src/Version.php",
            "/libraries/cms/version/version.php",
            "/administrator/manifests/files/joomla.xml",
        )
    ):
        return "joomla", _joomla_version(root), "joomla"
    if lstat_kind(root + "/core/lib/Drupal.php") == "file":
        version = _match(
            r"const\s+VERSION\s*=\s*['\"]([^'\"]+)['\"]", _text(root + "/core/lib/Drupal.php")
        )
        return "drupal", version, "drupal"
    if lstat_kind(root + "/includes/bootstrap.inc") == "file" and (
        lstat_kind(root + "/modules/system") == "dir"
    ):
        version = _match(
            r"define\(\s*['\"]VERSION['\"]\s*,\s*['\"]([^'\"]+)['\"]",
            _text(root + "/includes/bootstrap.inc"),
        )
        return "drupal", version, "drupal7"
    if (
        lstat_kind(root + "/catalog") == "dir"
        and lstat_kind(root + "/admin") == "dir"
        and lstat_kind(root + "/system") == "dir"
    ):
        version_pattern = r"define\(\s*['\"]VERSION['\"]\s*,\s*['\"]([^'\"]+)['\"]"
        version = _match(version_pattern, _text(root + "/index.php")) or _match(
            version_pattern, _text(root + "/admin/index.php")
        )
        if version or lstat_kind(root + "/system/startup.php") == "file":
            return "opencart", version, "opencart"
    return "static", None, "static"


def is_site(root: str) -> bool:
    """Does ``root`` hold a CMS we know (not merely files)?"""
    return detect(root)[0] != "static"


def missing_docroot(path: str) -> dict[str, Any]:
    return {
        "kind": "static",
        "path": display(path),
        "missing": True,
        "version": None,
        "bytes": 0,
        "files": 0,
        "parts": {"files": {"bytes": 0, "files": 0}},
        "largest": [],
        "stale_backups": [],
        "skipped": {},
        "errors": [],
    }


def measure_docroot(ctx: Context, path: str) -> dict[str, Any]:
    """Measure a docroot within a scan call (sharing its inode set and exclusions)."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return missing_docroot(path)
    except OSError:
        pass  # the walk says what went wrong
    kind, version, scheme = detect(path)
    parts = PARTS[kind]
    totals: Totals = {part: [0, 0] for part in parts}
    problems = Problems()
    findings = Findings(path, ctx.now)
    if kind == "static":
        walk(ctx, problems, path, "files", totals, findings=findings)
    else:
        classify, depth = _CLASSIFIERS[scheme]
        walk(ctx, problems, path, "core", totals, classify=classify, depth=depth, findings=findings)
    return {
        "kind": kind,
        "path": display(path),
        "missing": False,
        "version": version,
        "bytes": sum(figures[0] for figures in totals.values()),
        "files": sum(figures[1] for figures in totals.values()),
        "parts": {part: {"bytes": totals[part][0], "files": totals[part][1]} for part in parts},
        **findings.report(),
        **problems.report(),
    }


@gc_paused
def scan_docroot(path: str | os.PathLike[str], *, now: float | None = None) -> dict[str, Any]:
    """Measure one docroot; ``now`` (a Unix time) decides which backups are old."""
    root = os.path.abspath(os.fsdecode(os.fspath(path)))
    return measure_docroot(Context(now), root)
