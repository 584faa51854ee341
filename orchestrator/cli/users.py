"""`orchestrator users ...`: people who sign in to the console, over the REST API (the bootstrap token is an admin)."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, Any

import typer

from .client import JsonOpt, UrlOpt, call, console, err, print_result, table

users_app = typer.Typer(help="People who sign in to the console, and their roles.", no_args_is_help=True)
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The person's name.")]


class RoleChoice(StrEnum):
    ADMIN = "admin"
    PRODUCER = "producer"
    VIEWER = "viewer"


def read_password(from_stdin: bool) -> str:
    """The password: the first line of standard input, or typed twice without echo."""
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            err.print("[red]No password on standard input.")
            raise typer.Exit(2)
        return line
    first = typer.prompt("Password", hide_input=True)
    if typer.prompt("Repeat the password", hide_input=True) != first:
        err.print("[red]The passwords differ.")
        raise typer.Exit(2)
    return str(first)


def _people(items: list[dict[str, Any]]) -> Any:
    out = table("name", "role", "created", "disabled")
    for p in items:
        out.add_row(p["name"], p["role"], p["created_at"], "yes" if p["disabled"] else "no")
    return out


@users_app.command("add")
def users_add(
    name: NameArg,
    role: Annotated[RoleChoice, typer.Option("--role", help="admin, producer or viewer.")] = RoleChoice.VIEWER,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")]
    = False,
    url: UrlOpt = None, as_json: JsonOpt = False,
) -> None:
    """Add a person (the password is asked twice, hidden, unless --password-stdin)."""
    password = read_password(password_stdin)
    result = call(url, "POST", "/v1/users", json={"name": name, "role": role.value, "password": password})
    print_result(result, as_json, _people([result]))


@users_app.command("list")
def users_list(url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Every person, by name."""
    result = call(url, "GET", "/v1/users")
    print_result(result, as_json, _people(result["items"]))


@users_app.command("remove")
def users_remove(name: NameArg, url: UrlOpt = None) -> None:
    """Remove a person: their sessions end and the API keys they made are revoked."""
    call(url, "DELETE", f"/v1/users/{name}")
    console.print(f"removed {name}")


@users_app.command("set-role")
def users_set_role(
    name: NameArg, role: Annotated[RoleChoice, typer.Argument(metavar="ROLE", help="admin, producer or viewer.")],
    url: UrlOpt = None, as_json: JsonOpt = False,
) -> None:
    """Change a person's role (their API keys are capped at it)."""
    result = call(url, "PATCH", f"/v1/users/{name}", json={"role": role.value})
    print_result(result, as_json, _people([result]))


@users_app.command("password")
def users_password(
    name: NameArg,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")]
    = False,
    url: UrlOpt = None,
) -> None:
    """Set a new password for a person."""
    password = read_password(password_stdin)
    call(url, "PATCH", f"/v1/users/{name}", json={"password": password})
    console.print(f"password of {name} changed")


@users_app.command("disable")
def users_disable(name: NameArg, url: UrlOpt = None) -> None:
    """Disable a person: they cannot sign in, their sessions end now and their keys stop working."""
    call(url, "PATCH", f"/v1/users/{name}", json={"disabled": True})
    console.print(f"disabled {name}")


@users_app.command("enable")
def users_enable(name: NameArg, url: UrlOpt = None) -> None:
    """Let a disabled person sign in again."""
    call(url, "PATCH", f"/v1/users/{name}", json={"disabled": False})
    console.print(f"enabled {name}")
