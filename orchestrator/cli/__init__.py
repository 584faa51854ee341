"""The `orchestrator` command: run the service or the sandbox, check the set-up, drive the API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from orchestrator import __version__

from .broadcasts import broadcast_app
from .client import Target
from .doctor import doctor
from .egresses import egress_app
from .keys import keys_app
from .recordings import recordings_app
from .rooms import rooms_app
from .rules import rules_app
from .server import run_server, sandbox, serve, serve_settings
from .sessions import sessions_app
from .users import users_app

app = typer.Typer(help="Egress Orchestrator: LiveKit egress, durably.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"orchestrator {__version__}")
        raise typer.Exit


@app.callback()
def root(
    url: Annotated[str | None, typer.Option("--url", envvar="ORCHESTRATOR_URL", metavar="URL",
                                            help="The service's base URL (default: ORCHESTRATOR_PUBLIC_URL).")] = None,
    token: Annotated[str | None, typer.Option("--token", envvar="ORCHESTRATOR_API_TOKEN", metavar="TOKEN",
                                              show_envvar=True, help="The API token (default: the api-token file "
                                              "in ORCHESTRATOR_DATA_DIR).")] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, metavar="",
                                          help="Print the version and exit.")] = False,
) -> None:
    """Egress Orchestrator: LiveKit egress, durably."""
    Target.url, Target.token = url, token


app.add_typer(egress_app, name="egress")
app.add_typer(broadcast_app, name="broadcast")
app.add_typer(rules_app, name="rules")
app.add_typer(rooms_app, name="rooms")
app.add_typer(sessions_app, name="sessions")
app.command()(serve)
app.command()(sandbox)
app.command()(doctor)
app.add_typer(recordings_app, name="recordings")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")

__all__ = ["app", "main", "run_server", "serve_settings"]

_TYPE_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "Path": "PATH"}


def plain_help(command: Any) -> Any:
    """Help as people expect it: flags without a type, values as TEXT/INTEGER, arguments by their metavar.

    (Typer's click commands, duck-typed: typer ships its own copy of click.)"""
    for param in command.params:
        if param.param_type_name == "argument":
            param.metavar = name = param.metavar or (param.name or "value").upper()
            param._usage_display_name = lambda name=name: name  # not typer's `{NAME}`
            param.display_type_rich = lambda ctx: None
        elif param.metavar is not None:
            continue
        elif getattr(param, "is_flag", False):
            param.metavar = ""
        else:
            bare = str(param.bare_type()).removeprefix("list[").removesuffix("]")
            param.metavar = _TYPE_NAMES.get(bare, bare.upper())
    help_option = command.get_help_option
    command.get_help_option = lambda ctx: _flag(help_option(ctx))
    for sub in getattr(command, "commands", {}).values():
        plain_help(sub)
    return command


def _flag(option: Any) -> Any:
    if option is not None:
        option.metavar = ""
    return option


def main() -> None:
    plain_help(typer.main.get_command(app))(prog_name="orchestrator")
