"""`orchestrator broadcast ...`: schedule and steer broadcasts over the REST API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from .client import JsonOpt, UrlOpt, call, console, err, follow, print_json, table
from .times import TimeError, parse_time, rfc3339, shown, zone

broadcast_app = typer.Typer(help="Scheduled broadcasts to Mux Live Streams and RTMP.", no_args_is_help=True)
BroadcastRef = Annotated[str, typer.Argument(metavar="ID", help="The broadcast's id.")]
TzOpt = Annotated[str | None, typer.Option(
    "--timezone", "--tz", help="IANA zone of local times and --cron (default: this machine's; UTC for --cron).")]
WHEN = "RFC 3339, a local time (18:00, '2026-12-01 18:00') or a delay (+10m)"
OPEN_RUN = ("scheduled", "starting", "live")


def _instant(value: str | None, tz_name: str | None, option: str) -> str | None:
    if value is None:
        return None
    try:
        return rfc3339(parse_time(value, datetime.now(UTC), zone(tz_name)))
    except TimeError as exc:
        err.print(f"[red]{option}: {exc}")
        raise typer.Exit(2) from None


def _tz_of(b: dict[str, Any]) -> str:
    return str((b.get("recurrence") or {}).get("timezone") or "UTC")


def _next_run(b: dict[str, Any]) -> dict[str, Any] | None:
    return next((r for r in b.get("runs") or [] if r["status"] in OPEN_RUN), None)


def _show(result: dict[str, Any]) -> None:
    tz = _tz_of(result)
    out = table("id", "room", "layout", "destinations", "state", "next run", "duration")
    dests = ", ".join(d["url"] for d in result["destinations"])
    duration = f"{result['max_duration_s']} s" if result["max_duration_s"] else f"until {shown(result['end_at'], tz)}"
    run = _next_run(result)
    out.add_row(result["id"], result["room_name"], result["layout"], dests, result["state"],
                shown(run["planned_start"] if run else result["start_at"], tz), duration)
    console.print(out)
    for event in result.get("history") or []:
        console.print(f"{shown(event['at'], tz)}  {event['state_after']:9}  {event['detail']}  "
                      f"by {event.get('actor') or 'system'}")
    for run in result.get("runs") or []:
        console.print(f"run {run['seq']} {run['id']}: {run['status']}  planned {shown(run['planned_start'], tz)} → "
                      f"{shown(run['planned_end'], tz)}  egresses {len(run['egresses'])}  {run['error']}")
        for event in run.get("events") or []:
            console.print(f"   {shown(event['at'], tz)}  {event['status_after']:9}  {event['detail']}  "
                          f"by {event.get('actor') or 'system'}")
        for check in run.get("preflight") or []:
            console.print(f"   preflight {check['check']}: {'ok' if check['ok'] else 'FAILED'}  {check['detail']}")


def _print(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(result)
    else:
        _show(result)


@broadcast_app.command("schedule")
def schedule(
    room: Annotated[str, typer.Option("--room", help="Room to broadcast.")],
    mux: Annotated[list[str] | None, typer.Option("--mux", help='Mux stream key (repeatable), e.g. '
                                                                '--mux "$MUX_STREAM_KEY".')] = None,
    rtmp: Annotated[list[str] | None, typer.Option("--rtmp", help="rtmp(s)://host/app/key (repeatable).")] = None,
    layout: Annotated[str, typer.Option(help="gallery, active-speaker, crop, grid, speaker...")] = "gallery",
    start: Annotated[str | None, typer.Option(help=f"{WHEN}; default now.")] = None,
    end: Annotated[str | None, typer.Option(help=WHEN)] = None,
    duration: Annotated[int | None, typer.Option(help="Seconds (instead of --end).")] = None,
    cron: Annotated[str | None, typer.Option(help="Repeat: cron expression, e.g. '0 9 * * 1-5'.")] = None,
    timezone: TzOpt = None,
    count: Annotated[int | None, typer.Option(help="Number of occurrences (with --cron).")] = None,
    until: Annotated[str | None, typer.Option(help=f"Last possible start (with --cron): {WHEN}.")] = None,
    record: Annotated[str | None, typer.Option(help="Also record to this S3 key.")] = None,
    preset: Annotated[str, typer.Option(help="1080p30, 720p30, 1080p60, portrait-1080p30...")] = "1080p30",
    wait_for_publisher: Annotated[bool, typer.Option("--wait-for-publisher")] = False,
    title: Annotated[str, typer.Option(help="Title passed through.")] = "",
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Schedule a broadcast (or start one now)."""
    body: dict[str, Any] = {
        "room_name": room, "layout": layout, "preset": preset, "wait_for_publisher": wait_for_publisher,
        "title": title, "destinations": [{"type": "mux", "stream_key": k} for k in mux or []]
        + [{"type": "rtmp", "url": u} for u in rtmp or []],
    }
    for key, value in (("start_at", _instant(start, timezone, "--start")), ("end_at", _instant(end, timezone, "--end")),
                       ("max_duration_s", duration)):
        if value is not None:
            body[key] = value
    if record is not None:
        body["record"] = {"filepath": record}
    if cron:
        body["recurrence"] = {"cron": cron, "timezone": timezone or "UTC", "count": count,
                              "until": _instant(until, timezone, "--until")}
    _print(call(url, "POST", "/v1/broadcasts", json=body), as_json)


@broadcast_app.command("list")
def list_(room: Annotated[str | None, typer.Option("--room")] = None,
          state: Annotated[str | None, typer.Option(help="active, finished or cancelled.")] = None,
          url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Broadcasts, newest first, with their next run in the broadcast's time zone."""
    params = {k: v for k, v in (("room_name", room), ("state", state)) if v}
    result = call(url, "GET", "/v1/broadcasts", params=params)
    if as_json:
        print_json(result)
        return
    out = table("id", "room", "layout", "state", "next run", "run", "destinations")
    for b in result["items"]:
        run = b.get("next_run")  # its planned start, status and time zone come with the page
        out.add_row(b["id"], b["room_name"], b["layout"], b["state"],
                    shown(run["planned_start"], run["timezone"]) if run else "-", run["status"] if run else "-",
                    str(len(b["destinations"])))
    console.print(out)


@broadcast_app.command("show")
def show(
    broadcast_id: BroadcastRef, url: UrlOpt = None, as_json: JsonOpt = False,
    follow_: Annotated[bool, typer.Option("--follow", "-f", help="Follow its runs live until it ends (Ctrl-C stops).")]
    = False,
) -> None:
    """A broadcast with its runs and their history."""
    if not follow_:
        _print(call(url, "GET", f"/v1/broadcasts/{broadcast_id}"), as_json)
        return

    def status(b: dict[str, Any]) -> str:
        run = _next_run(b)
        return "finished" if b["state"] != "active" else str(run["status"]) if run else "-"

    follow(lambda: call(url, "GET", f"/v1/broadcasts/{broadcast_id}"), print_json if as_json else _show, status)


@broadcast_app.command("update")
def update(
    broadcast_id: BroadcastRef,
    start: Annotated[str | None, typer.Option(help=f"Reschedule: {WHEN}.")] = None,
    end: Annotated[str | None, typer.Option(help=WHEN)] = None,
    duration: Annotated[int | None, typer.Option(help="Seconds (instead of --end).")] = None,
    layout: Annotated[str | None, typer.Option(help="Switch the layout (live too).")] = None,
    add_mux: Annotated[list[str] | None, typer.Option("--add-mux", help="Add a Mux stream key.")] = None,
    add_rtmp: Annotated[list[str] | None, typer.Option("--add-rtmp", help="Add an RTMP(S) URL.")] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", help="Remove a destination by its id.")] = None,
    timezone: TzOpt = None,
    url: UrlOpt = None, as_json: JsonOpt = False,
) -> None:
    """Reschedule; while live, change the layout or add and remove destinations without interrupting the others."""
    body: dict[str, Any] = {
        "add_destinations": [{"type": "mux", "stream_key": k} for k in add_mux or []]
        + [{"type": "rtmp", "url": u} for u in add_rtmp or []], "remove_destinations": remove or []}
    for key, value in (("start_at", _instant(start, timezone, "--start")), ("end_at", _instant(end, timezone, "--end")),
                       ("max_duration_s", duration), ("layout", layout)):
        if value is not None:
            body[key] = value
    _print(call(url, "PATCH", f"/v1/broadcasts/{broadcast_id}", json=body), as_json)


@broadcast_app.command("start")
def start(broadcast_id: BroadcastRef, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Start the next scheduled run now."""
    _print(call(url, "POST", f"/v1/broadcasts/{broadcast_id}/start"), as_json)


@broadcast_app.command("stop")
def stop(broadcast_id: BroadcastRef, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Stop the live run now."""
    _print(call(url, "POST", f"/v1/broadcasts/{broadcast_id}/stop"), as_json)


@broadcast_app.command("cancel")
def cancel(broadcast_id: BroadcastRef, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Cancel: no more runs; a live run is stopped."""
    _print(call(url, "DELETE", f"/v1/broadcasts/{broadcast_id}"), as_json)


@broadcast_app.command("preflight")
def preflight(broadcast_id: BroadcastRef, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Check LiveKit, every destination and the layout page now; exit 1 when a check fails."""
    result = call(url, "POST", f"/v1/broadcasts/{broadcast_id}/preflight")
    if as_json:
        print_json(result)
    else:
        out = table("check", "result", "detail")
        for check in result["checks"]:
            name = check["check"] + (f" {check['destination']}" if check.get("destination") else "")
            out.add_row(name, "[green]ok[/]" if check["ok"] else "[red]FAILED[/]", check["detail"])
        console.print(out)
    if not result["ok"]:
        raise typer.Exit(1)
