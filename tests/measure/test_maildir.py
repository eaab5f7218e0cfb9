"""Maildir measurement: folders as a user reads them, sizes from names, equal to a stat walk."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from panel.measure import scan_maildir, scan_path
from panel.measure.maildir import decode_mutf7, folder_name, parse_maildirsize
from tests.measure.trees import MailWriter, make_maildir, reference, write


def _adds_up(report: dict) -> None:
    folders = sum(f["bytes"] for f in report["folders"].values())
    assert folders + report["other"]["bytes"] == report["bytes"]
    assert sum(f["messages"] for f in report["folders"].values()) == report["messages"]
    json.dumps(report)


@pytest.mark.parametrize("seed", range(40))
def test_random_maildirs_equal_a_full_stat_walk(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    truth = make_maildir(
        tmp_path,
        seed,
        messages=rng.randrange(0, 150),
        folders=tuple(rng.sample(["Sent", "Trash", "Drafts", "Archive", "Archive.2024"], 3)),
        named_share=rng.choice([0.0, 0.5, 1.0]),
        link_share=rng.choice([0.0, 0.3]),
        maildirsize=rng.choice(["true", None]),
    )
    report = scan_maildir(tmp_path)
    assert (report["bytes"], report["files"]) == reference(tmp_path)
    assert report["messages"] == truth["messages"]
    _adds_up(report)
    assert report["skipped"] == {}


def test_folders_index_files_and_other(tmp_path: Path) -> None:
    mail = MailWriter(random.Random(1))
    mail.stored(tmp_path, 1000)
    mail.deliver(tmp_path, 500)
    sent = tmp_path / ".Sent"
    mail.stored(sent, 300)
    write(sent / "dovecot.index.log", 64)
    write(sent / "tmp" / "partial", 10)
    write(tmp_path / ".Archive.2024" / "cur" / f"{mail.base(7)}:2,S", 7)
    write(tmp_path / ".Verzonden &AOk-" / "maildirfolder")
    write(tmp_path / "dovecot.index.log", 100)
    write(tmp_path / "dovecot-uidlist", 20)
    write(tmp_path / ".not-a-folder" / "junk", 5)  # no cur/new/tmp/maildirfolder
    (tmp_path / "tmp").mkdir()
    report = scan_maildir(tmp_path)
    assert report["folders"] == {
        "INBOX": {"bytes": 1500, "messages": 2},
        "Archive/2024": {"bytes": 7, "messages": 1},
        "Sent": {"bytes": 374, "messages": 1},
        "Verzonden é": {"bytes": 0, "messages": 0},
    }
    assert report["other"] == {"bytes": 125, "files": 3}
    assert report["bytes"] == 2006
    assert report["messages"] == 4
    assert report["files"] == 10
    assert report["maildirsize"] is None
    _adds_up(report)


def test_message_sizes_come_from_names_not_stat(tmp_path: Path) -> None:
    mail = MailWriter(random.Random(2))
    for _ in range(100):
        mail.stored(tmp_path)
    for _ in range(10):
        mail.stored(tmp_path, named=False)
    report = scan_maildir(tmp_path)
    assert report["measured_by"]["stat"] == 10
    assert report["measured_by"]["name"] == 100
    assert report["bytes"] == reference(tmp_path)[0]


def test_hard_linked_copies_count_once_in_the_first_folder(tmp_path: Path) -> None:
    mail = MailWriter(random.Random(3))
    original = mail.stored(tmp_path, 4000)
    (tmp_path / ".Archive" / "cur").mkdir(parents=True)
    os.link(original, tmp_path / ".Archive" / "cur" / f"{mail.base(4000)}:2,S")
    os.link(original, tmp_path / ".Archive" / "cur" / "same-without-size:2,S")
    report = scan_maildir(tmp_path)
    assert report["bytes"] == 4000
    assert report["files"] == 1
    assert report["messages"] == 3
    assert report["folders"]["INBOX"] == {"bytes": 4000, "messages": 1}
    assert report["folders"]["Archive"] == {"bytes": 0, "messages": 2}
    assert report["maildirsize"] is None


@pytest.mark.parametrize("count", [1, 40])
def test_names_that_lie_are_caught_and_the_folder_is_stat_ed(tmp_path: Path, count: int) -> None:
    """Every folder's first named message is checked by stat, then every 64th: a tool that
    lies systematically (compressed mail, where S= is the uncompressed size) is caught."""
    mail = MailWriter(random.Random(4))
    for _ in range(count):
        mail.stored(tmp_path, 100).write_bytes(b"z" * 37)
    mail.stored(tmp_path / ".Sent", 100)  # a folder that tells the truth keeps its names
    report = scan_maildir(tmp_path)
    assert (report["bytes"], report["files"]) == reference(tmp_path)
    assert report["measured_by"] == {"name": 1, "stat": count, "cache": 0}
    assert any("size_in_name_wrong" in error for error in report["errors"])


@pytest.mark.parametrize(
    "name",
    [
        "1.M1P1.host,S=99999999999999999999999:2,S",  # too large for any file
        "1.M1P1.host,S=12abc:2,S",
        "1.M1P1.host,S=:2,S",
        "1.M1P1.host,S=1_0:2,S",
        "1.M1P1.host,S=١٢:2,S",  # digits, but not ours
        "1.M1P1.host,S=-5:2,S",
    ],
)
def test_malformed_sizes_in_names_fall_back_to_stat(tmp_path: Path, name: str) -> None:
    write(tmp_path / "cur" / name, 10)
    report = scan_maildir(tmp_path)
    assert report["bytes"] == 10
    assert report["measured_by"] == {"name": 0, "stat": 1, "cache": 0}


def test_maildirsize_is_read_and_agrees(tmp_path: Path) -> None:
    truth = make_maildir(tmp_path, 5, maildirsize="true")
    report = scan_maildir(tmp_path)
    assert report["maildirsize"] == {
        "bytes": truth["link_bytes"],
        "messages": truth["messages"],
        "quota_bytes": 10_000_000,
        "quota_messages": 5000,
        "invalid_lines": 0,
        "stale": False,
    }


def test_a_maildirsize_that_lies_is_stale_and_never_replaces_the_measurement(
    tmp_path: Path,
) -> None:
    make_maildir(tmp_path, 6, maildirsize="lie")
    report = scan_maildir(tmp_path)
    assert report["maildirsize"]["stale"] is True
    assert report["maildirsize"]["quota_messages"] is None
    assert report["bytes"] == reference(tmp_path)[0]


def test_garbage_maildirsize_is_reported_not_fatal(tmp_path: Path) -> None:
    make_maildir(tmp_path, 7, maildirsize="garbage")
    report = scan_maildir(tmp_path)
    assert report["maildirsize"]["stale"] is True
    assert report["bytes"] == reference(tmp_path)[0]
    json.dumps(report)


def test_huge_maildirsize_is_read_only_in_part(tmp_path: Path) -> None:
    write(tmp_path / "maildirsize", data=b"0S\n" + b"1 1\n" * 400_000)
    (tmp_path / "cur").mkdir()
    report = scan_maildir(tmp_path)
    assert report["maildirsize"]["stale"] is True
    assert report["bytes"] == 3 + 4 * 400_000


def test_parse_maildirsize() -> None:
    parsed = parse_maildirsize(b"2048S,10C\n100 1\n-40 -1\n\n  7   2 \nbad line\n")
    assert parsed == {
        "bytes": 67,
        "messages": 2,
        "quota_bytes": 2048,
        "quota_messages": 10,
        "invalid_lines": 1,
    }
    assert parse_maildirsize(b"")["quota_bytes"] is None


def test_folder_names_read_as_a_user_reads_them() -> None:
    assert folder_name(".Sent") == "Sent"
    assert folder_name(".INBOX.Sub") == "INBOX/Sub"
    assert folder_name(".Bijlagen &AOk-t&AOk-") == "Bijlagen été"
    assert folder_name(".A&-B") == "A&B"
    assert decode_mutf7("&broken") == "&broken"
    assert decode_mutf7("&AAA") == "&AAA"
    assert folder_name(".caf\udce9") == "caf\\xe9"


def test_missing_maildir_is_reported_as_missing(tmp_path: Path) -> None:
    report = scan_maildir(tmp_path / "nope")
    assert report["missing"] is True
    assert report["bytes"] == 0
    assert report["folders"]["INBOX"] == {"bytes": 0, "messages": 0}


def test_scan_path_detects_a_maildir(tmp_path: Path) -> None:
    make_maildir(tmp_path, 8)
    report = scan_path(tmp_path)
    assert report["kind"] == "maildir"
    assert report["bytes"] == reference(tmp_path)[0]


def test_odd_entries_inside_message_folders(tmp_path: Path) -> None:
    mail = MailWriter(random.Random(9))
    mail.stored(tmp_path, 10)
    write(tmp_path / "cur" / "subdir" / "x", 5)
    os.symlink("/etc/passwd", tmp_path / "cur" / "link")
    (tmp_path / "new").mkdir()
    os.mkfifo(tmp_path / "new" / "fifo")
    report = scan_maildir(tmp_path)
    assert report["bytes"] == 15
    assert report["skipped"] == {"special": 1, "symlink": 1}
    assert report["folders"]["INBOX"]["messages"] == 1
