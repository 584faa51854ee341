"""The HTTP client the command groups share: the service's URL and token, errors as exit codes, output."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from orchestrator.config import Settings

console = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
UrlOpt = Annotated[str | None, typer.Option("--url", envvar="ORCHESTRATOR_PUBLIC_URL",
                                            help="The service's base URL.")]


def client(url: str | None) -> httpx.Client:
    settings = Settings()
    base = (url or settings.public_url).rstrip("/")
    token = settings.api_token.get_secret_value() if settings.api_token else None
    if token is None and settings.api_token_file.exists():
        token = settings.api_token_file.read_text().strip()
    if not token:
        err.print("[red]No API token: set ORCHESTRATOR_API_TOKEN (or run from the service's data directory).")
        raise typer.Exit(2)
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def call(url: str | None, method: str, path: str, **kwargs: Any) -> Any:
    """One request to the service's API; an error is printed and exits (3: unreachable, 1: refused)."""
    try:
        with client(url) as http:
            response = http.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        err.print(f"[red]Cannot reach the service: {type(exc).__name__}. Is `orchestrator serve` running?")
        raise typer.Exit(3) from None
    if response.status_code >= 400:
        try:
            error = response.json()["error"]
            err.print(f"[red]{response.status_code} {error['code']}: {error['message']}")
        except (ValueError, KeyError):
            err.print(f"[red]{response.status_code}: {response.text[:500]}")
        raise typer.Exit(1)
    return response.json()


def print_json(result: Any) -> None:
    console.print_json(json.dumps(result))


def print_result(result: Any, as_json: bool, table: Table) -> None:
    """The API's answer as JSON with --json, else `table`."""
    if as_json:
        print_json(result)
    else:
        console.print(table)
