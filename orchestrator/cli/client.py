"""The HTTP client the command groups share: the service's URL and token, errors as exit codes, output."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from orchestrator.config import Settings

console = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
UrlOpt = Annotated[str | None, typer.Option("--url", help="The service's base URL (or ORCHESTRATOR_URL).")]
ID_COLUMNS = frozenset({"id", "egress_id", "room_sid", "sid", "recording", "egress"})
TERMINAL = frozenset({"complete", "failed", "aborted", "limit_reached", "lost", "ended", "missed", "cancelled",
                      "finished"})


class Target:
    """Where the root options (`orchestrator --url ... --token ...`) point every command."""

    url: str | None = None
    token: str | None = None


def base_url(url: str | None) -> str:
    """--url, else ORCHESTRATOR_URL, else ORCHESTRATOR_PUBLIC_URL (the service's own setting)."""
    return (url or Target.url or os.environ.get("ORCHESTRATOR_URL") or Settings().public_url).rstrip("/")


def api_token() -> str | None:
    """--token, else ORCHESTRATOR_API_TOKEN, else the token the service generated in its data directory."""
    if Target.token:
        return Target.token
    settings = Settings()
    if settings.api_token:
        return settings.api_token.get_secret_value()
    # ORCHESTRATOR_DATA_DIR (default ./data); or run from inside the data directory itself
    for path in (settings.api_token_file, Path("api-token")):
        if path.is_file():
            return path.read_text().strip() or None
    return None


def client(url: str | None) -> httpx.Client:
    token = api_token()
    if not token:
        err.print("[red]No API token: pass --token, set ORCHESTRATOR_API_TOKEN, or point ORCHESTRATOR_DATA_DIR at "
                  "the service's data directory (the one that holds api-token).")
        raise typer.Exit(2)
    return httpx.Client(base_url=base_url(url), headers={"Authorization": f"Bearer {token}"}, timeout=60)


def call(url: str | None, method: str, path: str, **kwargs: Any) -> Any:
    """One request to the service's API; an error is printed and exits (3: unreachable, 1: refused)."""
    try:
        with client(url) as http:
            response = http.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        err.print(f"[red]Cannot reach the service at {base_url(url)}: {type(exc).__name__}. "
                  "Is `orchestrator serve` running? (--url or ORCHESTRATOR_URL say where)")
        raise typer.Exit(3) from None
    if response.status_code >= 400:
        try:
            error = response.json()["error"]
            err.print(f"[red]{response.status_code} {error['code']}: {error['message']}")
        except (ValueError, KeyError, TypeError):
            err.print(f"[red]{response.status_code}: {response.text[:500]}")
        raise typer.Exit(1)
    return response.json() if response.content else None


def table(*columns: str) -> Table:
    """A table whose id columns are never cut or wrapped (they are for copying); other columns fold."""
    out = Table()
    for name in columns:
        if name in ID_COLUMNS:
            out.add_column(name, no_wrap=True, overflow="ignore", min_width=1)
        else:
            out.add_column(name, overflow="fold")
    return out


def print_json(result: Any) -> None:
    console.print_json(json.dumps(result))


def print_result(result: Any, as_json: bool, shown: Table) -> None:
    """The API's answer as JSON with --json, else `shown`."""
    if as_json:
        print_json(result)
    else:
        console.print(shown)


def follow(fetch: Callable[[], Any], render: Callable[[Any], None], status_of: Callable[[Any], str]) -> None:
    """Poll every second, printing each change, until a terminal status or Ctrl-C."""
    last = ""
    try:
        while True:
            result = fetch()
            current = json.dumps(result, sort_keys=True, default=str)
            if current != last:
                console.rule(time.strftime("%H:%M:%S"))
                render(result)
                last = current
            if status_of(result) in TERMINAL:
                return
            time.sleep(1)
    except KeyboardInterrupt:
        err.print("stopped following")
