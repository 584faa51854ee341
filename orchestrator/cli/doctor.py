"""`orchestrator doctor`: checks the set-up for real (database, LiveKit, clock, storage, webhooks, ffmpeg)."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from orchestrator.config import Settings
from orchestrator.doctor_checks import Finding, findings

from .client import JsonOpt, console


def doctor(as_json: JsonOpt = False) -> None:
    """Check the set-up: exit status 1 when something fails. Leaves nothing behind (creates no database)."""
    try:
        settings = Settings()
    except Exception as exc:  # pydantic's ValidationError: which variable is wrong
        _report([Finding("configuration", "failed", str(exc).splitlines()[0])], as_json)
        raise typer.Exit(1) from None
    found = findings(settings)  # the checks live in orchestrator/doctor_checks.py (the Settings page shows them)
    _report(found, as_json)
    if not all(f.ok for f in found):
        raise typer.Exit(1)


def _report(findings: list[Finding], as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps([{"check": f.check, "ok": f.ok, "status": f.status, "detail": f.detail}
                                       for f in findings]))
        return
    colour = {"ok": "[green]ok[/]", "warning": "[yellow]warning[/]", "failed": "[red]FAILED[/]"}
    table = Table("check", "result", "detail")
    for f in findings:
        table.add_row(f.check, colour[f.status], f.detail)
    console.print(table)
