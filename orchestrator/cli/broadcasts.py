"""`orchestrator broadcast ...`: schedule and steer broadcasts over the REST API."""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import typer
from rich.table import Table

from .client import JsonOpt, UrlOpt, call, console

broadcast_app = typer.Typer(help="Scheduled broadcasts to Mux Live Streams and RTMP.", no_args_is_help=True)




def _show(result: dict[str, Any], as_json: bool, *, runs: bool = False) -> None:
    if as_json:
        console.print_json(json.dumps(result))
        return
    table = Table("id", "room", "layout", "destinations", "state", "start", "duration")
    dests = ", ".join(d["url"] for d in result["destinations"])
    duration = f"{result['max_duration_s']} s" if result["max_duration_s"] else f"until {result['end_at']}"
    table.add_row(result["id"], result["room_name"], result["layout"], dests, result["state"],
                  str(result["start_at"])[:19], duration)
    console.print(table)
    for run in result.get("runs") or [] if runs else []:
        console.print(f"run {run['seq']} {run['id']}: {run['status']}  planned {run['planned_start'][:19]} → "
                      f"{run['planned_end'][:19]}  egresses {len(run['egresses'])}  {run['error']}")
        for event in run.get("events") or []:
            console.print(f"   {event['at'][:23]}  {event['status_after']:9}  {event['detail']}")
        for check in run.get("preflight") or []:
            console.print(f"   preflight {check['check']}: {'ok' if check['ok'] else 'FAILED'}  {check['detail']}")


@broadcast_app.command("schedule")
def schedule(
    room: Annotated[str, typer.Option("--room", help="Room to broadcast.")],
    mux: Annotated[list[str] | None, typer.Option("--mux", help="Mux stream key; or MUX_STREAM_KEY.")] = None,
    rtmp: Annotated[list[str] | None, typer.Option("--rtmp", help="rtmp(s)://host/app/key (repeatable).")] = None,
    layout: Annotated[str, typer.Option(help="gallery, active-speaker, crop, grid, speaker...")] = "gallery",
    start: Annotated[str | None, typer.Option(help="RFC 3339 with offset; default now.")] = None,
    end: Annotated[str | None, typer.Option(help="RFC 3339 with offset.")] = None,
    duration: Annotated[int | None, typer.Option(help="Seconds (instead of --end).")] = None,
    cron: Annotated[str | None, typer.Option(help="Repeat: cron expression, e.g. '0 9 * * 1-5'.")] = None,
    timezone: Annotated[str, typer.Option(help="IANA time zone of --cron.")] = "UTC",
    count: Annotated[int | None, typer.Option(help="Number of occurrences (with --cron).")] = None,
    until: Annotated[str | None, typer.Option(help="Last possible start (with --cron).")] = None,
    record: Annotated[str | None, typer.Option(help="Also record to this S3 key.")] = None,
    preset: Annotated[str, typer.Option(help="1080p30, 720p30, 1080p60, portrait-1080p30...")] = "1080p30",
    wait_for_publisher: Annotated[bool, typer.Option("--wait-for-publisher")] = False,
    title: Annotated[str, typer.Option(help="Title passed through.")] = "",
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Schedule a broadcast (or start one now)."""
    keys = list(mux or [])
    if os.environ.get("MUX_STREAM_KEY"):
        keys.append(os.environ["MUX_STREAM_KEY"])
    body: dict[str, Any] = {
        "room_name": room, "layout": layout, "preset": preset, "wait_for_publisher": wait_for_publisher,
        "title": title, "destinations": [{"type": "mux", "stream_key": k} for k in keys]
        + [{"type": "rtmp", "url": u} for u in rtmp or []],
    }
    for key, value in (("start_at", start), ("end_at", end), ("max_duration_s", duration)):
        if value is not None:
            body[key] = value
    if record is not None:
        body["record"] = {"filepath": record}
    if cron:
        body["recurrence"] = {"cron": cron, "timezone": timezone, "count": count, "until": until}
    _show(call(url, "POST", "/v1/broadcasts", json=body), as_json)


@broadcast_app.command("list")
def list_(room: Annotated[str | None, typer.Option("--room")] = None,
          state: Annotated[str | None, typer.Option(help="active, finished or cancelled.")] = None,
          url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Broadcasts, newest first."""
    params = {k: v for k, v in (("room_name", room), ("state", state)) if v}
    result = call(url, "GET", "/v1/broadcasts", params=params)
    if as_json:
        console.print_json(json.dumps(result))
        return
    table = Table("id", "room", "layout", "state", "start", "destinations")
    for b in result["items"]:
        table.add_row(b["id"], b["room_name"], b["layout"], b["state"], str(b["start_at"])[:19],
                      str(len(b["destinations"])))
    console.print(table)


@broadcast_app.command("show")
def show(broadcast_id: str, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """A broadcast with its runs and their history."""
    _show(call(url, "GET", f"/v1/broadcasts/{broadcast_id}"), as_json, runs=True)


@broadcast_app.command("start")
def start(broadcast_id: str, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Start the next scheduled run now."""
    _show(call(url, "POST", f"/v1/broadcasts/{broadcast_id}/start"), as_json, runs=True)


@broadcast_app.command("stop")
def stop(broadcast_id: str, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Stop the live run now."""
    _show(call(url, "POST", f"/v1/broadcasts/{broadcast_id}/stop"), as_json, runs=True)


@broadcast_app.command("cancel")
def cancel(broadcast_id: str, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Cancel: no more runs; a live run is stopped."""
    _show(call(url, "DELETE", f"/v1/broadcasts/{broadcast_id}"), as_json, runs=True)


@broadcast_app.command("preflight")
def preflight(broadcast_id: str, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Check LiveKit, every destination and the layout page now; exit 1 when a check fails."""
    result = call(url, "POST", f"/v1/broadcasts/{broadcast_id}/preflight")
    if as_json:
        console.print_json(json.dumps(result))
    else:
        table = Table("check", "result", "detail")
        for check in result["checks"]:
            name = check["check"] + (f" {check['destination']}" if check.get("destination") else "")
            table.add_row(name, "[green]ok[/]" if check["ok"] else "[red]FAILED[/]", check["detail"])
        console.print(table)
    if not result["ok"]:
        raise typer.Exit(1)
