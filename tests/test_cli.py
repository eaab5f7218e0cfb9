"""The ``onus`` command: the demo story, creating a hoster, and the one-command start."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from panel.extensions import db
from panel.models import Mailbox, Package, Party, Plan
from panel.services import accounts, agreements
from panel.services.measurement import package_paths
from panel.services.scope import Actor, scoped
from tests.smtp import free_port


def test_demo_loads_the_story_once_and_prints_the_logins(app: Flask) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "--password", "story-password"])
    assert first.exit_code == 0, first.output
    emails = re.findall(r"^\s+(\S+@\S+)\s+story-password\s+(.+)$", first.output, re.M)
    assert dict(emails) == {
        "hoster@snelhost.example": "hoster",
        "jan@webbouwer.example": "builder + owner",
        "studio@pixelwerk.example": "builder",
        "directie@sprint-post.example": "owner",
        "bakker@vandam-post.example": "owner",
    }
    again = runner.invoke(args=["demo", "--password", "second-password"])
    assert again.exit_code == 0, again.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Package)) == 3
        plan = db.session.scalars(select(Plan)).one()
        assert plan.storage_quota_bytes == 150 * 2**20
        school = db.session.scalars(select(Package).where(Package.name == "sprint")).one()
        assert school.owner.name == "Sportschool De Sprint"
        assert school.builder.name == "Webbouwer"
        assert [m.address for m in school.mailboxes] == [
            "info@sportschool-desprint.nl",
            "ledenadministratie@sportschool-desprint.nl",
            "trainers@sportschool-desprint.nl",
        ]
        assert [s.docroot for s in school.sites] == ["public_html"]
        assert accounts.authenticate("jan@webbouwer.example", "story-password") is None
        jan = accounts.authenticate("jan@webbouwer.example", "second-password")
        assert jan is not None
        seen = {}
        for party in accounts.parties_of(jan):
            actor = Actor.for_membership(jan, party)
            seen[party.name] = {p.name for p in db.session.scalars(scoped(Package, actor))}
        assert seen == {"Webbouwer": {"sprint"}, "Jan de Vries": {"jandevries"}}
        pixel = db.session.scalars(select(Party).where(Party.name == "Pixelwerk")).one()
        assert pixel.contacts[0].value == "studio@pixelwerk.example"
        assert db.session.scalar(select(func.count()).select_from(Mailbox)) == 6
        # as in the story, the school agreed nothing; the bakery's owner has yet to acknowledge
        bakery = db.session.scalars(select(Package).where(Package.name == "vandam")).one()
        states = agreements.states_of([school.id, bakery.id])
        assert states[school.id].kind == "none"
        assert states[bakery.id].kind == "waiting"
        assert states[bakery.id].waiting_for == ["Bakkerij Van Dam"]
        # the demo node is real: its files are on disk where the node's layout says
        home, mailboxes, sites = package_paths(school)
        assert str(home).startswith(app.instance_path)
        assert all((path / "cur").is_dir() for path in mailboxes.values())
        assert (sites["public_html"] / "wp-includes" / "version.php").is_file()
    assert "being measured and its mail log read by the worker" in first.output


def test_create_hoster(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "create-hoster",
            "Hosting Noord",
            "Admin@Noord.example",
            "--password",
            "a long password",
        ]
    )
    assert result.exit_code == 0, result.output
    twice = runner.invoke(
        args=[
            "create-hoster",
            "Hosting Noord",
            "admin@noord.example",
            "--password",
            "a long password",
        ]
    )
    assert twice.exit_code != 0 and "exists already" in twice.output
    with app.app_context():
        assert accounts.authenticate("admin@noord.example", "a long password") is not None


def _wait_for_line(process: subprocess.Popen[str], pattern: str, deadline: float) -> str:
    assert process.stdout is not None
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if re.search(pattern, line):
            return line
    raise AssertionError(f"{pattern!r} not printed; got:\n{''.join(seen)}")


def test_onus_up_starts_panel_and_worker_on_the_embedded_default(tmp_path: Path) -> None:
    """The quick start: a fresh instance folder, nothing but Python. Web, worker and beat."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONUS_")}
    env.update(ONUS_INSTANCE_PATH=str(tmp_path / "instance"), PYTHONUNBUFFERED="1")
    port = free_port()
    onus = Path(sys.executable).with_name("onus")
    process = subprocess.Popen(
        [str(onus), "up", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        running = _wait_for_line(process, r"Onus is running at", deadline)
        assert f"http://127.0.0.1:{port}/" in running
        setup = _wait_for_line(process, r"set the hoster's password at", deadline)
        link = setup.strip().rsplit(" ", 1)[-1]
        with urllib.request.urlopen(link, timeout=10) as page:
            assert "admin@localhost" in page.read().decode()
        _wait_for_line(process, r"celery@\S+ ready", deadline)
        instance = tmp_path / "instance"
        assert (instance / "onus.sqlite").exists() and (instance / "secret_key").exists()
        assert (instance / "secret_key").stat().st_mode & 0o077 == 0
    finally:
        process.terminate()
        process.wait(timeout=30)
    # stopping the panel stops its worker and beat too: nothing is left running
    left = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert left.stdout == "", f"still running after stop: {left.stdout}"


def test_onus_mail_runs_without_the_web_stack() -> None:
    # `onus mail ...` reads logs on a mail server: it must not wait for Flask and SQLAlchemy
    code = (
        "import sys\n"
        "sys.argv = ['onus', 'mail', 'explain', '552 5.2.2']\n"
        "from panel.onus import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('flask', 'sqlalchemy', 'celery') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    explained, loaded = done.stdout.strip().splitlines()
    assert explained.startswith("552 5.2.2 — the recipient's mailbox is full")
    assert loaded == "[]"


def test_onus_up_on_a_port_in_use_says_so_and_leaves_no_worker(tmp_path: Path) -> None:
    """The address is taken before anything starts: a clear error, and no orphaned worker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONUS_")}
    env.update(ONUS_INSTANCE_PATH=str(tmp_path / "instance"))
    onus = Path(sys.executable).with_name("onus")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [str(onus), "up", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1, done.stderr[-2000:]
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "celery" not in done.stdout + done.stderr  # the worker never started
