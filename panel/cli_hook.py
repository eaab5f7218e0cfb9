"""``onus hook``: commands the mail server runs, so what it knows reaches Onus at once.

``onus hook dovecot-quota-warning PERCENT USER`` is what Dovecot's ``quota_warning`` script
service calls; ``onus hook doveadm-quota FILE`` reads ``doveadm -f json quota get -A`` (from
cron). Dovecot waits for the script: the hook never waits long on doveadm, and a database
that cannot be reached is one clear line on stderr and a non-zero exit that Dovecot logs,
never a traceback.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from panel.mailflow.doveadm import DoveadmError, UserQuota, parse_quota_get

T = TypeVar("T")
EX_TEMPFAIL = 75  # sysexits.h: try again later (the database is down or failed)
DOVEADM_TIMEOUT = 5.0  # seconds: Dovecot's script service waits for the hook
SEND_TIMEOUT = 5.0  # seconds to hand the notifications to the broker


class Percent(click.ParamType):
    """Dovecot's percentage: a whole number, ``95`` or ``95%``."""

    name = "percent"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        text = str(value).strip().removesuffix("%")
        if not text.isdigit() or not 1 <= int(text) <= 1000:
            self.fail(f"{value!r} is not a percentage from 1 to 1000", param, ctx)
        return int(text)


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"onus: {message}", err=True)
    sys.exit(code)


def _with_database(work: Callable[[], T]) -> T:
    """Run ``work``; a database that cannot be reached ends the command cleanly."""
    from panel.extensions import db

    try:
        return work()
    except SQLAlchemyError as exc:
        db.session.rollback()
        said = str(getattr(exc, "orig", None) or exc).splitlines() or [type(exc).__name__]
        what = "cannot be reached" if isinstance(exc, OperationalError) else "failed"
        _fail(f"the database {what}: {said[0]}", EX_TEMPFAIL)


def _send(notification_ids: list[int]) -> None:
    """Hand the notifications to the worker, waiting SEND_TIMEOUT at most: a broker that is
    away makes Celery retry for most of a minute. They are stored as queued, so what is not
    handed over now is sent by a later alert round, and the hook still succeeds."""
    from panel.services.notifications import send_soon

    if not notification_ids:
        return
    failed: list[Exception] = []

    def hand_over() -> None:
        try:
            send_soon(notification_ids)
        except Exception as exc:
            failed.append(exc)

    sender = threading.Thread(target=hand_over, name="onus-hook-send", daemon=True)
    sender.start()
    sender.join(SEND_TIMEOUT)  # a daemon thread still waiting ends with the command
    if sender.is_alive():
        why = f"the broker did not answer within {SEND_TIMEOUT:g} s"
    elif failed:
        why = str(failed[0]).splitlines()[0] if str(failed[0]) else type(failed[0]).__name__
    else:
        return
    click.echo(f"onus: notifications wait for the next alert round: {why}", err=True)


def ask_doveadm(command: str, user: str, timeout: float) -> tuple[UserQuota | None, str]:
    """The user's exact figures from ``COMMAND -f json quota get -u USER``, or None and why
    not. Killed (with whatever it started) after ``timeout`` seconds."""
    from panel.services.quota_warnings import normalized

    args = [*shlex.split(command), "-f", "json", "quota", "get", "-u", user]
    try:
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, killed whole on a timeout
        )
    except OSError as exc:
        return None, f"cannot run {args[0]}: {exc.strerror or exc}"
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return None, f"{args[0]} did not answer within {timeout:g} s"
    if process.returncode != 0:
        said = err.decode(errors="replace").strip().splitlines()
        return None, f"{args[0]} failed ({process.returncode}): {said[0] if said else ''}"
    try:
        reading = parse_quota_get(out, user)
    except DoveadmError as exc:
        return None, f"{args[0]} output unreadable: {exc}"
    wanted = normalized(user)
    found = next((q for who, q in reading.users.items() if normalized(who) == wanted), None)
    return found, "" if found is not None else f"{args[0]} gave no storage figure for {user}"


@click.group("hook")
def hook_group() -> None:
    """Commands for the mail server to run: quota warnings heard before the next scan."""


@hook_group.command("dovecot-quota-warning")
@click.argument("percent", type=Percent())
@click.argument("user")
@click.option(
    "--doveadm",
    "doveadm_command",
    envvar="ONUS_DOVEADM",
    default="",
    help="Ask this doveadm for the exact figure (e.g. /usr/bin/doveadm); default: ONUS_DOVEADM.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 60),
    default=DOVEADM_TIMEOUT,
    show_default=True,
    help="Seconds to wait for doveadm.",
)
@with_appcontext
def dovecot_quota_warning_command(
    percent: int, user: str, doveadm_command: str, timeout: float
) -> None:
    """Dovecot says USER crossed PERCENT of its quota: record it and open or raise the
    mailbox's alert at once. Exits 0 for a user Onus does not host."""
    from panel.models.base import utcnow
    from panel.services import quota_warnings

    exact = None
    if doveadm_command:
        exact, why = ask_doveadm(doveadm_command, user, timeout)
        if exact is None:
            click.echo(f"onus: {why}; counting the warning's {percent} %", err=True)
    heard = _with_database(lambda: quota_warnings.record_warning(user, percent, utcnow(), exact))
    _send(heard.to_send)
    click.echo(heard.outcome)


@hook_group.command("doveadm-quota")
@click.argument("source", type=click.File("rb"))
@with_appcontext
def doveadm_quota_command(source: click.utils.LazyFile) -> None:
    """Read the output of "doveadm -f json quota get -A" from SOURCE (- for standard input)
    and measure every hosted mailbox with it; alerts open or rise at once."""
    from panel.models.base import utcnow
    from panel.services import quota_warnings

    try:
        reading = parse_quota_get(source.read())
    except DoveadmError as exc:
        _fail(f"{source.name}: {exc}")
    for note in reading.notes:
        click.echo(f"onus: skipped {note}", err=True)
    outcome = _with_database(lambda: quota_warnings.read_doveadm(reading, utcnow()))
    _send(outcome.to_send)
    for line in outcome.changes:
        click.echo(line)
    click.echo(", ".join(f"{count} {what}" for what, count in outcome.counts.items()))
