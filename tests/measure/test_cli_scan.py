"""``onus scan PATH``: works without a database, prints JSON or a short summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from panel.cli import main
from tests.measure.trees import make_maildir, make_wordpress, reference


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["scan", *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_scan_json_of_an_account_home(tmp_path: Path) -> None:
    make_maildir(tmp_path / "mail/sprint.nl/info", 1)
    make_wordpress(tmp_path / "public_html", 1)
    os.symlink("/etc", tmp_path / "etc-link")
    code, output = _run(str(tmp_path), "--json")
    assert code == 0  # skipped items are reported, not an error
    report = json.loads(output)
    assert report["kind"] == "account"
    assert report["bytes"] == reference(tmp_path)[0]
    assert report["skipped"] == {"symlink": 1}
    assert output.startswith('{\n  "kind"')


def test_scan_summary_and_layout(tmp_path: Path) -> None:
    make_maildir(tmp_path / "sprint.nl/info", 1, maildirsize="lie")
    code, output = _run(str(tmp_path), "--layout", "vmail")
    assert code == 0
    assert "mailbox info@sprint.nl" in output
    assert "INBOX" in output
    assert "maildirsize: quota 9.5 MiB, stale" in output
    code, output = _run(str(tmp_path / "sprint.nl/info"))
    assert "Maildir," in output.splitlines()[0]
    make_wordpress(tmp_path / "site", 2)
    code, output = _run(str(tmp_path / "site"))
    assert "wordpress 6.4.3 site" in output
    assert "backups" in output


def test_scan_of_a_missing_path_fails_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["scan", str(tmp_path / "nope")])
    assert result.exit_code != 0
    assert "does not exist" in result.output


def test_onus_scan_runs_as_a_command_without_a_database(tmp_path: Path) -> None:
    make_maildir(tmp_path, 3)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONUS_")}
    env["ONUS_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"  # never connected to
    env["ONUS_INSTANCE_PATH"] = str(tmp_path.parent / "instance-for-scan")
    onus = Path(sys.executable).with_name("onus")
    done = subprocess.run(
        [str(onus), "scan", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["kind"] == "maildir"
    missing = subprocess.run(
        [str(onus), "scan", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert missing.returncode != 0
    assert "does not exist" in missing.stderr
