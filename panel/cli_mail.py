"""``onus mail``: what mail logs and status codes say, without a database or the web app.

It imports click and the pure core only, so ``onus mail summarize`` starts in a fraction of
a second (see :mod:`panel.onus`); the Flask CLI group registers the same commands.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from typing import IO

import click

from panel.mailflow.codes import explain, format_explanation
from panel.mailflow.logs import open_log, summarize_streams


@click.group("mail")
def mail_group() -> None:
    """Mail logs: what was delivered, deferred, bounced and refused, per recipient."""


@mail_group.command("summarize")
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "postfix", "exim", "dovecot"]),
    default="auto",
    show_default=True,
    help="The log's format; auto detects it per line.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.option("--year", type=int, help="Year of the first syslog line (default: this year).")
def mail_summarize_command(
    files: tuple[str, ...], fmt: str, as_json: bool, year: int | None
) -> None:
    """Count per recipient the messages delivered, deferred, bounced, rejected and over quota
    in mail logs (Postfix, Exim, Dovecot; gzip or not; - is standard input)."""
    errors: list[str] = []

    def streams() -> Iterator[IO[bytes]]:
        for path in files:
            try:
                stream = open_log(path)
            except OSError as exc:
                raise click.ClickException(f"cannot read {path}: {exc.strerror or exc}") from exc
            try:
                yield stream
            finally:
                if path != "-":
                    stream.close()

    # Hundreds of thousands of small objects and no reference cycles among them: the cyclic
    # collector would only walk the per-queue state over and over.
    gc.disable()
    try:
        summary = summarize_streams(streams(), fmt, year, errors=errors)
    finally:
        gc.enable()
    for error in errors:
        click.echo(f"warning: unreadable rest of a file: {error}", err=True)
    if as_json:
        click.echo(json.dumps(summary.to_json(), indent=2, ensure_ascii=False))
        return
    click.echo(f"{summary.lines} lines, {summary.skipped} skipped")
    for address, outcome in sorted(summary.recipients.items()):
        click.echo(
            f"{address}: {outcome.delivered} delivered, {outcome.deferred} deferred, "
            f"{outcome.bounced} bounced, {outcome.rejected} rejected, "
            f"{outcome.over_quota} over quota"
        )


@mail_group.command("explain")
@click.argument("text")
@click.option(
    "--language",
    type=click.Choice(["en", "nl"]),
    default="en",
    show_default=True,
    help="The language of the explanation.",
)
def mail_explain_command(text: str, language: str) -> None:
    """Say in plain words what an SMTP status code means, e.g. "552 5.2.2"."""
    explanation = explain(text, language)
    if explanation is None:
        raise click.ClickException(f"no SMTP status code found in {text!r}")
    click.echo(format_explanation(explanation))
