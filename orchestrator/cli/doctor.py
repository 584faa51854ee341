"""`orchestrator doctor`: the configuration, the database, and LiveKit with credentials that may record."""

from __future__ import annotations

import asyncio
import json

import typer
from rich.table import Table

from orchestrator.config import Settings

from .client import JsonOpt, console


def doctor(as_json: JsonOpt = False) -> None:
    """Check the configuration, the database, and that LiveKit answers with credentials that may record."""
    from orchestrator.bootstrap import check_database, check_livekit, livekit_target, storage_target
    from orchestrator.domain.errors import LiveKitError

    checks: list[tuple[str, bool, str]] = []
    try:
        settings = Settings()
        checks.append(("configuration", True, "loaded from the environment"))
    except Exception as exc:
        _report([("configuration", False, str(exc).splitlines()[0])], as_json)
        raise typer.Exit(1) from None
    try:
        check_database(settings)
        backend = settings.database_url_resolved.split(":", 1)[0]
        checks.append(("database", True, f"{backend} answers"))
    except Exception as exc:
        checks.append(("database", False, f"{type(exc).__name__}: {str(exc).splitlines()[0]}"))
    try:
        target = livekit_target(settings)
    except SystemExit as exc:
        checks.append(("livekit", False, str(exc)))
        target = None
    if target is not None:
        where = "sandbox LiveKit (no LIVEKIT_URL)" if target.sandbox else target.url
        try:
            asyncio.run(check_livekit(target))
            checks.append(("livekit", True, f"{where} answers; the credentials may record"))
        except LiveKitError as exc:
            hint = " (is `orchestrator serve` running?)" if target.sandbox else ""
            checks.append(("livekit", False, f"{where}: {exc.message}{hint}"))
    storage = storage_target(settings)
    if storage is not None:
        checks.append(("storage", True, f"S3 bucket {storage.bucket!r}"))
    elif settings.sandbox:
        checks.append(("storage", True, "sandbox: a placeholder bucket (set ORCHESTRATOR_S3_* to use a real one)"))
    else:
        checks.append(("storage", False, "no ORCHESTRATOR_S3_BUCKET: file, HLS and image outputs are unavailable"))
    _report(checks, as_json)
    if not all(ok for name, ok, _ in checks if name != "storage"):
        raise typer.Exit(1)


def _report(checks: list[tuple[str, bool, str]], as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps([{"check": n, "ok": ok, "detail": d} for n, ok, d in checks]))
        return
    table = Table("check", "result", "detail")
    for name, ok, detail in checks:
        table.add_row(name, "[green]ok[/]" if ok else "[red]FAILED[/]", detail)
    console.print(table)
