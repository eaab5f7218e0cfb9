"""Account homes and whole paths: mailboxes, sites and the rest, each byte counted once.

An account's ``bytes`` is its mailboxes plus its sites plus ``other`` (everything under the
home that is neither): a component's root folder is left out of every other component's
walk (by device and inode, so a site inside a mailbox or a mailbox inside the home is
measured once), and hard links are counted once across the whole call — in the first
component measured: mailboxes by address, then sites by path, then the rest of the home.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from typing import Any

from panel.measure.cache import ScanCache
from panel.measure.docroot import is_site, measure_docroot, scan_docroot
from panel.measure.maildir import begin, discover, end, finish, measure_messages, scan_maildir
from panel.measure.walk import Context, Problems, Totals, display, gc_paused, lstat_kind, walk

PathLike = str | os.PathLike[str]
LAYOUTS = ("cpanel", "vmail")
# Folders of a cPanel home that are never a site's docroot.
_NOT_DOCROOTS = frozenset(
    {"mail", "public_html", "www", "etc", "logs", "tmp", "ssl", "cache", "access-logs",
     "public_ftp", "perl5", "lscache", "quarantine", "backups"}
)  # fmt: skip


def _abs(path: PathLike) -> str:
    return os.path.abspath(os.fsdecode(os.fspath(path)))


def _subdirs(path: str, limit: int = 100_000) -> list[str]:
    """Names of the real folders (not symlinks) in ``path``, sorted; [] if unreadable."""
    names = []
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    names.append(entry.name)
                    if len(names) >= limit:
                        break
    except OSError:
        return []
    return sorted(names)


def _is_maildir(path: str) -> bool:
    return lstat_kind(path + "/cur") == "dir" or lstat_kind(path + "/new") == "dir"


@gc_paused
def scan_account(
    home: PathLike,
    mailboxes: Mapping[str, PathLike],
    sites: Mapping[str, PathLike],
    cache: ScanCache | None = None,
) -> dict[str, Any]:
    """Measure an account: its mailboxes (address → Maildir, inside the home or not), its
    sites (docroot as the panel stores it → absolute path) and the rest of its home.

    A mailbox or site folder that does not exist yet is reported with ``"missing": true``
    and zero bytes."""
    root = _abs(home)
    ctx = Context()
    box_paths = {address: _abs(path) for address, path in sorted(mailboxes.items())}
    site_paths = {rel: _abs(path) for rel, path in sorted(sites.items())}
    for path in (*box_paths.values(), *site_paths.values()):
        try:
            st = os.lstat(path)
        except OSError:
            continue
        ctx.exclude.add((st.st_dev, st.st_ino))
    key = ("account", root)
    begin(ctx, cache, key)
    boxes = {address: discover(ctx, path) for address, path in box_paths.items()}
    measure_messages(ctx, list(boxes.values()))
    problems = Problems()
    box_reports = {}
    for address, box in boxes.items():
        box_reports[display(address)] = finish(ctx, box)
        problems.merge(box.problems)
    end(ctx, cache, key)
    site_reports = {}
    for rel, path in site_paths.items():
        site_reports[display(rel)] = report = measure_docroot(ctx, path)
        _merge_report(problems, report)
    totals: Totals = {"other": [0, 0]}
    missing = False
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        missing = True
    except OSError as exc:
        problems.oserror(exc, root)
    else:
        if (st.st_dev, st.st_ino) not in ctx.exclude:
            walk(ctx, problems, root, "other", totals)
    other = totals["other"]
    components = [*box_reports.values(), *site_reports.values()]
    return {
        "kind": "account",
        "path": display(root),
        "missing": missing,
        "bytes": sum(report["bytes"] for report in components) + other[0],
        "files": sum(report["files"] for report in components) + other[1],
        "mailboxes": box_reports,
        "sites": site_reports,
        "other": {"bytes": other[0], "files": other[1]},
        **problems.report(),
    }


def _merge_report(problems: Problems, report: dict[str, Any]) -> None:
    component = Problems()
    component.skipped = dict(report["skipped"])
    component.errors = list(report["errors"])
    problems.merge(component)


def cpanel_components(home: str) -> tuple[dict[str, str], dict[str, str]]:
    """Mailboxes and sites of a cPanel home: ``mail/{domain}/{local}/`` (and ``mail/`` itself,
    the account's default mailbox, named after the user), ``public_html`` and any folder in
    the home or in ``public_html`` that holds a CMS (addon domains)."""
    mailboxes: dict[str, str] = {}
    mail = home + "/mail"
    if _is_maildir(mail):
        mailboxes[os.path.basename(home) or "default"] = mail
    for domain in _subdirs(mail):
        if domain.startswith(".") or domain in ("cur", "new", "tmp"):
            continue
        for local in _subdirs(f"{mail}/{domain}"):
            path = f"{mail}/{domain}/{local}"
            if not local.startswith(".") and _is_maildir(path):
                mailboxes[f"{local}@{domain}"] = path
    sites: dict[str, str] = {}
    public = home + "/public_html"
    if lstat_kind(public) == "dir":
        sites["public_html"] = public
        for name in _subdirs(public, 500):
            if not name.startswith(".") and is_site(f"{public}/{name}"):
                sites[f"public_html/{name}"] = f"{public}/{name}"
    for name in _subdirs(home, 500):
        if name.startswith(".") or name in _NOT_DOCROOTS:
            continue
        if is_site(f"{home}/{name}"):
            sites[name] = f"{home}/{name}"
    return mailboxes, sites


def vmail_mailboxes(root: str) -> dict[str, str]:
    """Mailboxes of a vmail-style root: ``{domain}/{local}/`` (or ``{local}/Maildir/``)."""
    mailboxes: dict[str, str] = {}
    for domain in _subdirs(root):
        if domain.startswith("."):
            continue
        for local in _subdirs(f"{root}/{domain}"):
            path = f"{root}/{domain}/{local}"
            if local.startswith("."):
                continue
            if _is_maildir(path):
                mailboxes[f"{local}@{domain}"] = path
            elif _is_maildir(path + "/Maildir"):
                mailboxes[f"{local}@{domain}"] = path + "/Maildir"
    return mailboxes


def detect_layout(path: str) -> str:
    """What ``path`` is: "maildir", "docroot", "cpanel" (an account home) or "vmail"."""
    present = sum(lstat_kind(f"{path}/{name}") == "dir" for name in ("cur", "new", "tmp"))
    if present >= 2:
        return "maildir"
    if is_site(path):
        return "docroot"
    if lstat_kind(path + "/mail") == "dir" or lstat_kind(path + "/public_html") == "dir":
        return "cpanel"
    for domain in _subdirs(path, 200):
        if domain.startswith("."):
            continue
        for local in _subdirs(f"{path}/{domain}", 20):
            if _is_maildir(f"{path}/{domain}/{local}") or _is_maildir(
                f"{path}/{domain}/{local}/Maildir"
            ):
                return "vmail"
    return "docroot"


@gc_paused
def scan_path(
    path: PathLike, layout: str | None = None, cache: ScanCache | None = None
) -> dict[str, Any]:
    """What ``onus scan PATH`` shows: a Maildir, a docroot, a cPanel account home or a vmail
    root (``layout`` "cpanel" or "vmail"; None detects). Raises FileNotFoundError or
    NotADirectoryError when ``path`` is not a folder.

    ``path`` itself is followed if it is a symlink (it is what was asked for); nothing in
    it is. The ``scan_*`` functions do not follow their roots either: a package's configured
    docroot that its owner turned into a symlink is reported, not measured."""
    root = os.path.realpath(_abs(path))  # the folder asked for, even through a symlink
    kind = lstat_kind(root)
    if kind is None:
        raise FileNotFoundError(errno.ENOENT, "no such folder", root)
    if kind != "dir":
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", root)
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    found = layout or detect_layout(root)
    if found == "maildir":
        return scan_maildir(root, cache)
    if found == "docroot":
        return scan_docroot(root)
    if found == "cpanel":
        mailboxes, sites = cpanel_components(root)
    else:
        mailboxes, sites = vmail_mailboxes(root), {}
    report = scan_account(root, mailboxes, sites, cache)
    report["layout"] = found
    return report
