"""The ``onus`` command. ``onus mail ...`` runs without the web stack (a log is summarized
in the time it takes to read it, not to import Flask); every other command is the Flask CLI
group of :mod:`panel.cli`."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["mail"]:
        from panel.cli_mail import mail_group

        mail_group.main(args=sys.argv[2:], prog_name="onus mail")
    else:
        from panel.cli import main as with_the_app

        with_the_app.main(prog_name="onus")
