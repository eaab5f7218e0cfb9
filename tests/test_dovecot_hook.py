"""Dovecot's quota warnings and doveadm's figures into Onus: the ``onus hook`` commands, in
process and as the real subprocess Dovecot's script service runs, with a small script in
tmp_path standing in for doveadm (Dovecot is not installed here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import func, select

from panel.cli_hook import EX_TEMPFAIL
from panel.extensions import db
from panel.mailflow.doveadm import DoveadmError, parse_quota_get
from panel.models import Alert, Package, PackageStatus, PackageUsage, QuotaWarning, UsageSample
from panel.models.base import utcnow
from panel.services import alerts
from tests.alerting import MIB, measure
from tests.conftest import DatabaseStates
from tests.smtp import free_port
from tests.world import World

ALPHA_BOX = "info@alpha.example"  # 50 MiB: the plan's default mailbox quota
BETA_BOX = "info@beta.example"
GAMMA_BOX = "info@gamma.example"
QUOTA = 50 * MIB
KIB = 1024

# ``doveadm -f json quota get -u info@alpha.example``: every value a string, STORAGE in KiB
SINGLE = (
    '[{"root":"User quota","type":"STORAGE","value":"49664","limit":"51200","percent":"97"},'
    '{"root":"User quota","type":"MESSAGE","value":"1830","limit":"-","percent":"0"}]'
)


def all_users(*rows: dict[str, str]) -> str:
    """``doveadm -f json quota get -A``: the same objects, each with its username first."""
    return json.dumps(list(rows))


def storage(user: str, kib: int | str, limit: str = "51200", root: str = "User quota") -> dict:
    return {"username": user, "root": root, "type": "STORAGE", "value": str(kib), "limit": limit}


@pytest.fixture
def w(world_app: Flask) -> Iterator[World]:
    with world_app.app_context():
        yield World.load()


def hook(app: Flask, *args: str, **env: str) -> Result:
    runner = CliRunner()
    return runner.invoke(
        app.cli, ["hook", *args], env={"ONUS_DOVEADM": "", **env}, catch_exceptions=False
    )


def mailbox_alert(package_id: int, address: str = ALPHA_BOX) -> Alert | None:
    db.session.expire_all()
    return db.session.scalars(
        select(Alert).where(
            Alert.package_id == package_id,
            Alert.subject == f"mailbox:{address}",
            Alert.open_key.is_not(None),
        )
    ).one_or_none()


def samples(package_id: int) -> list[UsageSample]:
    return list(
        db.session.scalars(
            select(UsageSample)
            .where(UsageSample.package_id == package_id)
            .order_by(UsageSample.taken_at)
        )
    )


def warnings() -> list[QuotaWarning]:
    db.session.expire_all()
    return list(db.session.scalars(select(QuotaWarning).order_by(QuotaWarning.id)))


def baseline(w: World, mailbox: int = 10 * MIB) -> None:
    """A scan an hour ago: the mailbox well under any threshold, a site beside it."""
    measure(
        w.package,
        utcnow() - timedelta(hours=1),
        mailboxes={ALPHA_BOX: mailbox},
        parts={"core": 20 * MIB, "uploads": 5 * MIB},
        other=MIB,
    )
    alerts.evaluate([w.package], utcnow() - timedelta(hours=1))


def fake_doveadm(tmp_path: Path, body: str) -> Path:
    """An executable standing in for doveadm; it notes its arguments beside itself."""
    script = tmp_path / "doveadm"
    script.write_text(f'#!/bin/sh\necho "$@" > "{tmp_path}/args"\n{body}\n')
    script.chmod(0o755)
    return script


# --- doveadm's output ------------------------------------------------------------------------


def test_single_user_output_is_read_in_bytes_with_its_message_count() -> None:
    reading = parse_quota_get(SINGLE, user=ALPHA_BOX)
    quota = reading.users[ALPHA_BOX]
    assert (quota.used_bytes, quota.limit_bytes) == (49664 * KIB, 51200 * KIB)
    assert (quota.messages, quota.message_limit) == (1830, None)  # "-": unlimited
    assert quota.percent == pytest.approx(97.0)
    assert reading.skipped == 0
    # without the user it was asked for, entries without a username belong to nobody
    nobody = parse_quota_get(SINGLE)
    assert nobody.users == {} and nobody.skipped == 2


def test_all_users_output_keeps_the_fullest_root_and_counts_what_it_skips() -> None:
    text = all_users(
        storage("a@x.example", 1024, limit="-"),
        storage("b@x.example", 100, limit=""),
        storage("c@x.example", 900, limit="1000", root="User quota"),
        storage("c@x.example", 10, limit="20", root="Domain quota"),  # 50 %: less full
        storage("d@x.example", "error", limit="error"),
        {"username": "e@x.example", "root": "User quota", "type": "MESSAGE", "value": "3"},
        {"root": "User quota", "type": "STORAGE", "value": "1", "limit": "2"},
        {"username": "f@x.example", "root": "r", "type": "STORAGE", "value": "-5", "limit": "9"},
        {"username": "g@x.example", "root": "r", "type": "SIEVE", "value": "x", "limit": "y"},
        "not an object",
    )
    reading = parse_quota_get(text)
    assert sorted(reading.users) == ["a@x.example", "b@x.example", "c@x.example"]
    assert reading.users["a@x.example"].limit_bytes is None
    assert reading.users["a@x.example"].percent is None
    assert reading.users["b@x.example"].used_bytes == 100 * KIB
    assert reading.users["b@x.example"].limit_bytes is None
    chosen = reading.users["c@x.example"]
    assert (chosen.root, chosen.percent) == ("User quota", pytest.approx(90.0))
    # d: error figures; no username; f: negative; the string entry. e (messages only) and
    # g (another resource) are no errors, and no figures either.
    assert reading.skipped == 4
    assert any("d@x.example" in note and "'error'" in note for note in reading.notes)
    assert any("no username" in note for note in reading.notes)


@pytest.mark.parametrize("text", ["", "not json", '"a string"', "42", b"\xff\xfe"])
def test_output_that_is_no_list_of_entries_is_an_error(text: str | bytes) -> None:
    with pytest.raises(DoveadmError):
        parse_quota_get(text)


# --- the hook ----------------------------------------------------------------------------------


def test_a_warning_opens_the_mailbox_alert_at_once_and_a_higher_one_raises_it(
    world_app: Flask, w: World
) -> None:
    baseline(w)
    assert mailbox_alert(w.package) is None
    before = samples(w.package)[-1].components
    result = hook(world_app, "dovecot-quota-warning", "95", "Info@Alpha.example")
    assert result.exit_code == 0, result.output
    assert f"{ALPHA_BOX}: opened a warning alert" in result.stdout
    alert = mailbox_alert(w.package)
    assert alert is not None and alert.level == "warning"  # 95 %: over 90, under 100
    assert alert.used_bytes == QUOTA * 95 // 100
    assert [e.kind for e in alert.events] == ["opened", "dovecot"]
    assert "Dovecot reported info@alpha.example at 95 % of its quota" in alert.events[1].detail
    # a new measurement point: the mailbox as Dovecot says, the rest as last measured
    point = samples(w.package)[-1].components
    assert point[f"mailbox:{ALPHA_BOX}"][0] == QUOTA * 95 // 100
    assert {k: v for k, v in point.items() if "mailbox" not in k} == {
        k: v for k, v in before.items() if "mailbox" not in k
    }
    latest = db.session.get_one(PackageUsage, w.package)
    assert latest.report["mailboxes"][ALPHA_BOX]["reported"]["by"] == "dovecot"
    assert "scanned_at" in latest.report  # when the files themselves were last scanned
    [warning] = warnings()
    assert (warning.percent, warning.source, warning.used_bytes) == (
        95,
        "dovecot",
        alert.used_bytes,
    )
    assert (warning.quota_bytes, warning.package_id) == (QUOTA, w.package)
    assert warning.outcome == f"opened a warning alert #{alert.id}"

    raised = hook(world_app, "dovecot-quota-warning", "100%", ALPHA_BOX)
    assert raised.exit_code == 0, raised.output
    critical = mailbox_alert(w.package)
    assert critical is not None and critical.level == "critical" and critical.id != alert.id
    assert f"raised the alert to critical #{critical.id}" in raised.stdout
    assert [e.kind for e in critical.events] == ["opened", "dovecot"]
    assert critical.events[0].detail == "raised from warning"
    old = db.session.get_one(Alert, alert.id)
    assert (old.status, old.resolution) == ("resolved", "raised")
    assert [w_.percent for w_ in warnings()] == [95, 100]


def test_a_warning_never_lowers_what_was_measured(world_app: Flask, w: World) -> None:
    baseline(w, mailbox=49 * MIB)  # 98 %: the scan knows better than an 80 % warning
    warning_alert = mailbox_alert(w.package)
    assert warning_alert is not None and warning_alert.level == "warning"
    points = len(samples(w.package))
    result = hook(world_app, "dovecot-quota-warning", "80", ALPHA_BOX)
    assert result.exit_code == 0, result.output
    assert f"the warning alert #{warning_alert.id} stands" in result.stdout
    assert len(samples(w.package)) == points  # nothing new to say: no point
    [warning] = warnings()
    assert warning.used_bytes == 49 * MIB
    kinds = [e.kind for e in db.session.get_one(Alert, warning_alert.id).events]
    assert kinds == ["opened", "dovecot"]  # the timeline still says Dovecot reported it


def test_an_address_not_hosted_here_is_recorded_nowhere(world_app: Flask, w: World) -> None:
    baseline(w)
    for user in ("someone@elsewhere.example", "vmail"):
        result = hook(world_app, "dovecot-quota-warning", "95", user)
        assert result.exit_code == 0, result.output
        assert f"{user}: not hosted here" in result.stdout
    assert warnings() == []


@pytest.mark.parametrize("percent", ["below", "0", "95.5", "1001", ""])
def test_a_bad_percent_is_a_usage_error(world_app: Flask, w: World, percent: str) -> None:
    result = hook(world_app, "dovecot-quota-warning", percent, ALPHA_BOX)
    assert result.exit_code == 2
    assert "Invalid value for 'PERCENT'" in result.stderr
    assert warnings() == []


def test_a_package_never_measured_keeps_the_warning_for_the_first_scan(
    world_app: Flask, w: World
) -> None:
    result = hook(world_app, "dovecot-quota-warning", "95", BETA_BOX)
    assert result.exit_code == 0, result.output
    assert "package not measured yet" in result.stdout
    [warning] = warnings()
    assert (warning.package_id, warning.percent) == (w.other_package, 95)
    assert samples(w.other_package) == [] and mailbox_alert(w.other_package, BETA_BOX) is None


def test_a_cancelled_package_keeps_the_warning_and_nothing_else(world_app: Flask, w: World) -> None:
    baseline(w)
    db.session.get_one(Package, w.package).status = PackageStatus.CANCELLED
    db.session.commit()
    points = len(samples(w.package))
    result = hook(world_app, "dovecot-quota-warning", "100", ALPHA_BOX)
    assert result.exit_code == 0, result.output
    assert f"{ALPHA_BOX}: package cancelled: recorded only" in result.stdout
    assert [x.outcome for x in warnings()] == ["package cancelled: recorded only"]
    assert len(samples(w.package)) == points and mailbox_alert(w.package) is None


def test_doveadm_gives_the_exact_figure(world_app: Flask, w: World, tmp_path: Path) -> None:
    baseline(w)
    doveadm = fake_doveadm(tmp_path, f"echo '{SINGLE}'")
    result = hook(world_app, "dovecot-quota-warning", "95", ALPHA_BOX, ONUS_DOVEADM=str(doveadm))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "args").read_text().split() == [
        "-f",
        "json",
        "quota",
        "get",
        "-u",
        ALPHA_BOX,
    ]
    [warning] = warnings()
    assert (warning.source, warning.used_bytes) == ("doveadm", 49664 * KIB)
    assert warning.quota_bytes == 51200 * KIB
    alert = mailbox_alert(w.package)
    assert alert is not None and alert.used_bytes == 49664 * KIB
    assert alert.events[-1].detail == (
        f"Dovecot (doveadm) measured {ALPHA_BOX}: 48.5 MiB of 50 MiB"
    )
    latest = db.session.get_one(PackageUsage, w.package)
    assert latest.report["mailboxes"][ALPHA_BOX]["messages"] == 1830


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("echo 'Fatal: Quota not enabled' >&2; exit 75", "failed (75): Fatal: Quota not enabled"),
        ("exec sleep 60", "did not answer within 0.5 s"),
        ("echo 'Usage: doveadm'", "output unreadable"),
        ("echo '[]'", "gave no storage figure"),
    ],
)
def test_a_doveadm_that_fails_or_hangs_falls_back_to_the_percentage(
    world_app: Flask, w: World, tmp_path: Path, body: str, said: str
) -> None:
    baseline(w)
    doveadm = fake_doveadm(tmp_path, body)
    result = hook(
        world_app,
        "dovecot-quota-warning",
        "--doveadm",
        str(doveadm),
        "--timeout",
        "0.5",
        "95",
        ALPHA_BOX,
    )
    assert result.exit_code == 0, result.output
    assert said in result.stderr and "counting the warning's 95 %" in result.stderr
    [warning] = warnings()
    assert (warning.source, warning.used_bytes) == ("dovecot", QUOTA * 95 // 100)
    assert mailbox_alert(w.package) is not None


def test_a_doveadm_that_is_not_there_falls_back_too(
    world_app: Flask, w: World, tmp_path: Path
) -> None:
    baseline(w)
    missing = tmp_path / "no-doveadm"
    result = hook(world_app, "dovecot-quota-warning", "--doveadm", str(missing), "95", ALPHA_BOX)
    assert result.exit_code == 0, result.output
    assert f"cannot run {missing}" in result.stderr
    assert [x.source for x in warnings()] == ["dovecot"]


# --- doveadm quota get -A ------------------------------------------------------------------------


def test_doveadm_output_of_all_users_measures_every_hosted_mailbox(
    world_app: Flask, w: World, tmp_path: Path
) -> None:
    baseline(w)
    measure(w.foreign_package, utcnow() - timedelta(hours=1), mailboxes={GAMMA_BOX: MIB})
    output = tmp_path / "quota.json"
    output.write_text(
        all_users(
            storage(ALPHA_BOX, 49152),  # 96 % of 50 MiB
            storage(GAMMA_BOX.upper(), 15360, limit="-"),  # 30 % of Onus's 50 MiB
            storage(BETA_BOX, 51200),  # beta: never measured
            storage("nobody@elsewhere.example", 10),
            storage("broken@x.example", "error", limit="error"),
        )
    )
    result = hook(world_app, "doveadm-quota", str(output))
    assert result.exit_code == 0, result.output
    assert "skipped entry 4 (broken@x.example, STORAGE)" in result.stderr
    assert f"{ALPHA_BOX}: opened a warning alert" in result.stdout
    summary = result.stdout.strip().splitlines()[-1]
    for part in (
        "4 users",
        "1 skipped",
        "1 not hosted",
        "1 packages not measured yet",
        "2 measured",
        "2 packages",
        "1 alerts",
    ):
        assert part in summary, summary
    [warning] = warnings()
    assert (warning.source, warning.percent, warning.used_bytes) == ("doveadm", 96, 49152 * KIB)
    alert = mailbox_alert(w.package)
    assert alert is not None and alert.level == "warning"
    assert alert.events[-1].kind == "dovecot"
    gamma = samples(w.foreign_package)[-1].components[f"mailbox:{GAMMA_BOX}"]
    assert gamma[0] == 15360 * KIB
    assert mailbox_alert(w.foreign_package, GAMMA_BOX) is None

    # the same figures an hour later are measurements, not news: no warning, no new step
    again = CliRunner().invoke(
        world_app.cli, ["hook", "doveadm-quota", "-"], input=output.read_text()
    )
    assert again.exit_code == 0, again.output
    assert "alerts" not in again.stdout.strip().splitlines()[-1]
    assert len(warnings()) == 1
    assert [e.kind for e in db.session.get_one(Alert, alert.id).events] == ["opened", "dovecot"]


def test_doveadm_output_that_is_not_json_is_refused_and_nothing_is_recorded(
    world_app: Flask, w: World, tmp_path: Path
) -> None:
    baseline(w)
    output = tmp_path / "quota.txt"
    output.write_text("Username  Quota name  Type  Value\n")
    result = hook(world_app, "doveadm-quota", str(output))
    assert result.exit_code == 1
    assert f"onus: {output}: not JSON" in result.stderr
    assert warnings() == [] and len(samples(w.package)) == 1


# --- as Dovecot's script service runs it ---------------------------------------------------


def onus(
    args: list[str], url: str, instance: Path, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONUS_")}
    env.update(ONUS_DATABASE_URL=url, ONUS_INSTANCE_PATH=str(instance), **extra)
    return subprocess.run(
        [str(Path(sys.executable).with_name("onus")), "hook", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_hook_as_a_real_subprocess(
    database: DatabaseStates, world_app: Flask, w: World, tmp_path: Path
) -> None:
    baseline(w)
    db.session.remove()  # nothing held open while the command writes
    done = onus(["dovecot-quota-warning", "95", ALPHA_BOX], database.url, tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"{ALPHA_BOX}: opened a warning alert" in done.stdout
    assert "Traceback" not in done.stderr
    alert = mailbox_alert(w.package)
    assert alert is not None and [e.kind for e in alert.events] == ["opened", "dovecot"]
    assert db.session.scalar(select(func.count()).select_from(QuotaWarning)) == 1


def test_a_broker_that_is_away_leaves_the_notifications_for_the_alert_round(
    database: DatabaseStates, world_app: Flask, w: World, tmp_path: Path
) -> None:
    baseline(w)
    db.session.remove()
    away = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    done = onus(
        ["dovecot-quota-warning", "95", ALPHA_BOX], database.url, tmp_path, ONUS_BROKER_URL=away
    )
    assert done.returncode == 0, done.stderr
    assert f"{ALPHA_BOX}: opened a warning alert" in done.stdout
    assert "onus: notifications wait for the next alert round" in done.stderr
    assert "Traceback" not in done.stderr
    alert = mailbox_alert(w.package)
    assert alert is not None
    queued = {n.channel: n.status for n in alert.notifications}
    assert queued.get("email") == "queued"  # stored: the round's stuck() sends them


def running(pid: int) -> bool:
    """Whether the process lives (a zombie nobody reaped yet does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(") ")[2][:1] != "Z"


def test_a_hanging_doveadm_is_killed_with_what_it_started(
    database: DatabaseStates, world_app: Flask, w: World, tmp_path: Path
) -> None:
    baseline(w)
    db.session.remove()
    # a doveadm whose own child holds the output open: killing doveadm alone would leave
    # the hook waiting for the child (600 s, longer than ``onus``'s 120 s here)
    doveadm = fake_doveadm(tmp_path, f'sleep 600 & echo $! > "{tmp_path}/child"; wait')
    args = ["dovecot-quota-warning", "--doveadm", str(doveadm), "--timeout", "1", "95", ALPHA_BOX]
    done = onus(args, database.url, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "did not answer within 1 s; counting the warning's 95 %" in done.stderr
    assert not running(int((tmp_path / "child").read_text()))
    assert [x.source for x in warnings()] == ["dovecot"]


def test_a_dead_database_is_a_clean_non_zero_exit(tmp_path: Path) -> None:
    dead = f"sqlite:///{tmp_path}/no-such-folder/onus.sqlite"
    done = onus(["dovecot-quota-warning", "95", ALPHA_BOX], dead, tmp_path)
    assert done.returncode == EX_TEMPFAIL
    assert "onus: the database cannot be reached: unable to open database file" in done.stderr
    assert "Traceback" not in done.stderr
