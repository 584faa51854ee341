"""`orchestrator keys ...`: API keys (shown once when created, stored hashed), over the REST API."""

from __future__ import annotations

from typing import Annotated

import typer

from .client import JsonOpt, UrlOpt, call, console, err, print_json, print_result, table
from .users import RoleChoice

keys_app = typer.Typer(help="API keys: a role at most their creator's; shown once, stored hashed.",
                       no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="What the key is for (history names it).")],
    role: Annotated[RoleChoice, typer.Option("--role", help="admin, producer or viewer.")] = RoleChoice.VIEWER,
    url: UrlOpt = None, as_json: JsonOpt = False,
) -> None:
    """Create a key and print it once: it cannot be shown again."""
    result = call(url, "POST", "/v1/keys", json={"name": name, "role": role.value})
    if as_json:
        print_json(result)
        return
    console.print(result["key"], soft_wrap=True, highlight=False)
    err.print(f"key {result['id']} ({result['name']}, {result['role']}): copy it now, it is not shown again")


@keys_app.command("list")
def keys_list(url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Every key, newest first (never their secrets)."""
    result = call(url, "GET", "/v1/keys")
    out = table("id", "name", "role", "creator", "created", "last used", "revoked")
    for k in result["items"]:
        out.add_row(k["id"], k["name"], k["role"], k["creator"], k["created_at"], k["last_used_at"] or "-",
                    k["revoked_at"] or "no")
    print_result(result, as_json, out)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id.")],
                url: UrlOpt = None) -> None:
    """Revoke a key: every replica refuses it within 2 seconds."""
    call(url, "DELETE", f"/v1/keys/{key_id}")
    console.print(f"revoked {key_id}")


