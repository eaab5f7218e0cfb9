"""Account homes: mailboxes + sites + the rest add up, and every byte is counted once."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from panel.measure import ScanCache, scan_account, scan_path
from tests.measure.trees import MailWriter, age, make_maildir, make_wordpress, reference, write


def _adds_up(report: dict) -> None:
    parts = [*report["mailboxes"].values(), *report["sites"].values(), report["other"]]
    assert sum(p["bytes"] for p in parts) == report["bytes"]
    assert sum(p["files"] for p in parts) == report["files"]
    json.dumps(report)


def _cpanel_home(home: Path) -> None:
    make_maildir(home / "mail/sprint.nl/info", 1, messages=50)
    make_maildir(home / "mail/sprint.nl/leden", 2, messages=20)
    os.symlink("sprint.nl/info", home / "mail/.info@sprint_nl")
    make_wordpress(home / "public_html", 3)
    write(home / "etc/sprint.nl/passwd", 120)
    write(home / "logs/sprint.nl-Jan-2024.gz", 3000)
    write(home / ".bashrc", 50)
    (home / "tmp").mkdir()


def test_a_cpanel_home_is_split_and_adds_up(tmp_path: Path) -> None:
    _cpanel_home(tmp_path)
    report = scan_path(tmp_path)
    assert report["kind"] == "account"
    assert report["layout"] == "cpanel"
    assert list(report["mailboxes"]) == ["info@sprint.nl", "leden@sprint.nl"]
    assert list(report["sites"]) == ["public_html"]
    assert report["sites"]["public_html"]["kind"] == "wordpress"
    assert (report["bytes"], report["files"]) == reference(tmp_path)
    assert report["other"]["bytes"] == 120 + 3000 + 50
    assert report["skipped"] == {"symlink": 1}
    _adds_up(report)
    box = report["mailboxes"]["info@sprint.nl"]
    assert box["bytes"] == reference(tmp_path / "mail/sprint.nl/info")[0]


def test_addon_docroots_are_found_and_not_counted_twice(tmp_path: Path) -> None:
    _cpanel_home(tmp_path)
    make_wordpress(tmp_path / "public_html/shop.sprint.nl", 4)
    make_wordpress(tmp_path / "blog.sprint.nl", 5)
    report = scan_path(tmp_path, "cpanel")
    assert sorted(report["sites"]) == [
        "blog.sprint.nl",
        "public_html",
        "public_html/shop.sprint.nl",
    ]
    assert (
        report["sites"]["public_html"]["bytes"]
        == reference(tmp_path / "public_html")[0]
        - (reference(tmp_path / "public_html/shop.sprint.nl")[0])
    )
    assert (report["bytes"], report["files"]) == reference(tmp_path)
    _adds_up(report)


def test_mailboxes_outside_the_home_and_missing_folders(tmp_path: Path) -> None:
    home = tmp_path / "home/sprint"
    vmail = tmp_path / "vmail/sprint.nl"
    make_maildir(vmail / "info", 1)
    write(home / "public_html/index.html", 500)
    write(home / "notes.txt", 70)
    report = scan_account(
        home,
        {"info@sprint.nl": vmail / "info", "nieuw@sprint.nl": vmail / "nieuw"},
        {"public_html": home / "public_html", "shop": home / "shop"},
    )
    assert report["mailboxes"]["info@sprint.nl"]["bytes"] == reference(vmail / "info")[0]
    assert report["mailboxes"]["nieuw@sprint.nl"]["missing"] is True
    assert report["mailboxes"]["nieuw@sprint.nl"]["bytes"] == 0
    assert report["sites"]["shop"]["missing"] is True
    assert report["sites"]["public_html"]["kind"] == "static"
    assert report["other"] == {"bytes": 70, "files": 1}
    assert report["bytes"] == reference(vmail / "info")[0] + 570
    assert report["skipped"] == {}
    _adds_up(report)


def test_a_home_that_does_not_exist_yet(tmp_path: Path) -> None:
    report = scan_account(tmp_path / "nobody", {"a@b.nl": tmp_path / "nobody/mail"}, {})
    assert report["missing"] is True
    assert report["bytes"] == 0
    assert report["mailboxes"]["a@b.nl"]["missing"] is True


def test_hard_links_between_a_site_and_a_mailbox_count_once(tmp_path: Path) -> None:
    mail = MailWriter(random.Random(1))
    message = mail.stored(tmp_path / "mail/a.nl/info", 5000)
    write(tmp_path / "public_html/index.html", 10)
    os.link(message, tmp_path / "public_html/copy.eml")
    os.link(message, tmp_path / "copy-in-home.eml")
    report = scan_path(tmp_path)
    assert (report["bytes"], report["files"]) == reference(tmp_path) == (5010, 2)
    assert report["mailboxes"]["info@a.nl"]["bytes"] == 5000
    assert report["sites"]["public_html"]["bytes"] == 10
    _adds_up(report)


def test_a_configured_mailbox_inside_the_site_is_measured_once(tmp_path: Path) -> None:
    make_maildir(tmp_path / "public_html/mailbox", 3)
    write(tmp_path / "public_html/index.html", 10)
    report = scan_account(
        tmp_path,
        {"x@y.nl": tmp_path / "public_html/mailbox"},
        {"public_html": tmp_path / "public_html"},
    )
    assert report["sites"]["public_html"]["bytes"] == 10
    assert (report["bytes"], report["files"]) == reference(tmp_path)
    _adds_up(report)


def test_the_same_folder_configured_twice_is_counted_once(tmp_path: Path) -> None:
    make_maildir(tmp_path / "mail/a.nl/info", 4)
    box = tmp_path / "mail/a.nl/info"
    report = scan_account(tmp_path, {"info@a.nl": box, "alias@a.nl": box}, {})
    assert (report["bytes"], report["files"]) == reference(tmp_path)
    _adds_up(report)


def test_vmail_layout(tmp_path: Path) -> None:
    make_maildir(tmp_path / "sprint.nl/info", 1)
    make_maildir(tmp_path / "sprint.nl/leden", 2)
    make_maildir(tmp_path / "vandam.nl/bakker/Maildir", 3)
    write(tmp_path / "sprint.nl/sieve/filters.sieve", 200)
    age(tmp_path)
    cache = ScanCache()
    report = scan_path(tmp_path, cache=cache)
    assert report["layout"] == "vmail"
    assert list(report["mailboxes"]) == ["bakker@vandam.nl", "info@sprint.nl", "leden@sprint.nl"]
    assert report["sites"] == {}
    assert report["other"]["bytes"] == 200
    assert (report["bytes"], report["files"]) == reference(tmp_path)
    again = scan_path(tmp_path, "vmail", cache)
    assert again["bytes"] == report["bytes"]
    assert sum(b["measured_by"]["cache"] for b in again["mailboxes"].values()) == sum(
        b["messages"] for b in again["mailboxes"].values()
    )
    _adds_up(report)


def test_scan_path_refuses_what_is_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        scan_path(tmp_path / "nope")
    write(tmp_path / "file", 3)
    with pytest.raises(NotADirectoryError):
        scan_path(tmp_path / "file")
    with pytest.raises(ValueError, match="layout"):
        scan_path(tmp_path, "plesk")


def test_an_empty_folder_is_an_empty_static_docroot(tmp_path: Path) -> None:
    report = scan_path(tmp_path)
    assert report["kind"] == "static"
    assert report["bytes"] == 0


def test_configured_roots_that_are_symlinks_are_not_followed(tmp_path: Path) -> None:
    make_wordpress(tmp_path / "elsewhere", 1)
    home = tmp_path / "home"
    home.mkdir()
    os.symlink(tmp_path / "elsewhere", home / "public_html")
    os.symlink(tmp_path / "elsewhere", home / "mailbox")
    report = scan_account(home, {"a@b.nl": home / "mailbox"}, {"public_html": home / "public_html"})
    assert report["bytes"] == 0
    assert report["sites"]["public_html"]["skipped"] == {"symlink": 1}
    assert report["mailboxes"]["a@b.nl"]["skipped"] == {"symlink": 1}
    # onus scan follows the path it is given
    assert scan_path(home / "public_html")["bytes"] == reference(tmp_path / "elsewhere")[0]
