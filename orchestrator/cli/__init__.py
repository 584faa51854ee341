"""The `orchestrator` command: run the service or the sandbox, check the set-up, drive the API."""

from __future__ import annotations

import typer

from .broadcasts import broadcast_app
from .doctor import doctor
from .egresses import egress_app
from .recordings import recordings_app
from .rules import rules_app
from .server import run_server, sandbox, serve, serve_settings
from .sessions import sessions_app

app = typer.Typer(help="Egress Orchestrator: LiveKit egress, durably.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)
app.add_typer(egress_app, name="egress")
app.add_typer(broadcast_app, name="broadcast")
app.add_typer(rules_app, name="rules")
app.add_typer(sessions_app, name="sessions")
app.command()(serve)
app.command()(sandbox)
app.command()(doctor)
app.add_typer(recordings_app, name="recordings")

__all__ = ["app", "main", "run_server", "serve_settings"]


def main() -> None:
    app()
