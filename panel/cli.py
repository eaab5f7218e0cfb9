"""The ``onus`` command: a Flask CLI group with Onus's own commands.

``onus up`` is the embedded one-command start; ``onus demo`` loads the story of DESIGN.md.
Every command is also reachable as ``flask --app wsgi <command>``.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from flask_migrate import upgrade
from sqlalchemy import func, select

from panel.cli_hook import hook_group
from panel.cli_mail import mail_group
from panel.cli_policy import policy_server_command
from panel.extensions import db
from workers import worker_command


def _upgrade_database() -> None:
    upgrade(directory=current_app.extensions["migrate"].directory)


def _first_run_link() -> str | None:
    """On an empty database: the first hoster and a link to set its password."""
    from panel.models import User
    from panel.services import accounts, invitations
    from panel.services.scope import Actor

    if db.session.scalar(select(func.count()).select_from(User)):
        return None
    email = os.environ.get("ONUS_ADMIN_EMAIL", "admin@localhost")
    user = accounts.create_hoster(os.environ.get("ONUS_HOSTER_NAME", "My hosting"), email, None)
    party = user.memberships[0].party
    _invitation, token = invitations.invite(
        Actor.for_membership(user, party),
        party,
        email,
        user.name,
        current_app.config["SECRET_KEY"],
    )
    return f"/invite/{token}"


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    """``kill`` stops the panel like Ctrl-C does, so the worker is stopped with it."""
    raise KeyboardInterrupt


@click.command("up")
@click.option("--host", default=lambda: os.environ.get("ONUS_HOST", "127.0.0.1"), show_default=True)
@click.option("--port", default=lambda: int(os.environ.get("ONUS_PORT", "5000")), type=int)
@click.option("--no-worker", is_flag=True, help="Do not start the Celery worker and beat.")
@with_appcontext
def up_command(host: str, port: int, no_worker: bool) -> None:
    """Migrate the database, start worker + beat, and serve the panel."""
    from waitress import create_server

    _upgrade_database()
    base = f"http://{host}:{port}"
    try:  # the address first: a port in use must not leave a worker behind
        server = create_server(current_app._get_current_object(), host=host, port=port, threads=8)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    setup = _first_run_link()
    worker: subprocess.Popen[bytes] | None = None
    if not no_worker:
        schedule = os.path.join(current_app.instance_path, "celerybeat-schedule")
        worker = subprocess.Popen(
            worker_command(
                "-B",
                "-s",
                schedule,
                "--pool=threads",
                "--concurrency=2",
                "--loglevel=INFO",
            )
        )
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    click.echo(f"Onus is running at {base}/")
    if setup:
        click.echo(f"First start: set the hoster's password at {base}{setup}")
    try:
        server.run()
    except KeyboardInterrupt:
        click.echo("Stopping.")
    finally:
        server.close()
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)


@click.command("demo")
@click.option("--password", help="Password for every demo login (default: a random one).")
@with_appcontext
def demo_command(password: str | None) -> None:
    """Load the story of DESIGN.md as data and files, queue its measurement, print the logins."""
    from panel.models import HostingNode
    from panel.services import demo
    from panel.services.measurement import node_queue
    from workers.tasks import ingest_mail_logs, measure_node

    _upgrade_database()
    story = demo.load_story(password, Path(current_app.instance_path) / "demo-node")
    node = db.session.get(HostingNode, story.node_id)
    assert node is not None
    queue = node_queue(node, current_app.config)
    measure_node.apply_async(args=[node.id], queue=queue)
    ingest_mail_logs.apply_async(args=[node.id], queue=queue)
    click.echo("Demo logins (email / password / role):")
    for login in story.logins:
        click.echo(f"  {login.email:32} {login.password:24} {login.role}")
    click.echo(
        "The demo node's files are being measured and its mail log read by the worker "
        "(onus up runs one)."
    )


@click.command("create-hoster")
@click.argument("name")
@click.argument("email")
@click.password_option()
@with_appcontext
def create_hoster_command(name: str, email: str, password: str) -> None:
    """Create a hoster tenancy and its first login."""
    from panel.services import accounts
    from panel.services.errors import ServiceError

    try:
        accounts.create_hoster(name, email, password)
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Hoster {name} created; {email} can log in.")


@click.command("scan")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--layout", type=click.Choice(["cpanel", "vmail"]), help="Default: detect.")
def scan_command(path: str, as_json: bool, layout: str | None) -> None:
    """Measure PATH (a Maildir, a docroot or an account home) without a database."""
    import json

    from panel.measure import scan_path
    from panel.measure.summary import summary_lines

    try:
        report = scan_path(path, layout)
    except OSError as exc:
        raise click.ClickException(f"cannot scan {path}: {exc.strerror or exc}") from exc
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        click.echo("\n".join(summary_lines(report)))


@click.command("bounce")
@click.option(
    "--recipient",
    envvar="ORIGINAL_RECIPIENT",
    help="The envelope recipient (the warning's return address); Postfix's pipe passes it.",
)
@with_appcontext
def bounce_command(recipient: str | None) -> None:
    """Read a bounce from standard input (as the mail server delivers it to Onus's return
    address) and mark the warning it returns as bounced; its alert escalates at once.

    Exits 0 for whatever it reads, so the mail server never bounces the bounce."""
    import sys

    from panel.models.base import utcnow
    from panel.services import alerts
    from panel.services.notifications import send_soon

    said, outcome = alerts.receive_bounce(sys.stdin.buffer.read(), recipient, utcnow())
    send_soon(outcome.to_send)
    click.echo(said)


def register_cli(app: Flask) -> None:
    commands = (
        up_command,
        demo_command,
        create_hoster_command,
        scan_command,
        bounce_command,
        mail_group,
        hook_group,
        policy_server_command,
    )
    for command in commands:
        app.cli.add_command(command)


def _create_app(*_args: Any) -> Flask:
    from panel import create_app

    return create_app()


main = FlaskGroup(create_app=_create_app, help="Onus, the hosting panel that says who answers.")
