"""``onus policy-server``: the Postfix policy service that defers mail for a full mailbox
during its grace period instead of bouncing it (see :mod:`panel.policy_server`)."""

from __future__ import annotations

import logging

import click
from flask import current_app
from flask.cli import with_appcontext

from panel.policy_server import PolicyServer, Settings


@click.command("policy-server")
@click.option(
    "--listen",
    default="127.0.0.1:10040",
    show_default=True,
    help="HOST:PORT to listen on, or the path of a unix socket.",
)
@click.option(
    "--refresh",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    help="Seconds between reloads of the full mailboxes from the database.",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="Seconds a connection may stay silent before it is closed.",
)
@with_appcontext
def policy_server_command(listen: str, refresh: float, idle_timeout: float) -> None:
    """Answer Postfix's check_policy_service: 452 4.2.2 for a full mailbox in its grace
    period, 552 5.2.2 after it, DUNNO for everything else (and whenever in doubt)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings(
        refresh_seconds=refresh,
        stale_after_seconds=max(120.0, 4 * refresh),
        idle_timeout=idle_timeout,
    )
    app = current_app._get_current_object()
    click.echo(f"onus policy server on {listen}; Ctrl-C stops it")
    PolicyServer(app, settings).serve_forever(listen)
