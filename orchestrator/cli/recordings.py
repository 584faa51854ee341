"""`orchestrator recordings`: list, show, link, download (resumable, with a progress bar) and delete recordings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from .client import JsonOpt, UrlOpt, call, console, err, table
from .times import shown

recordings_app = typer.Typer(help="The recordings catalog (over the REST API).", no_args_is_help=True)
RecordingRef = Annotated[str, typer.Argument(metavar="ID", help="The recording's id.")]




@recordings_app.command("list")
def recordings_list(
    room: Annotated[str | None, typer.Option(help="Only this room.")] = None,
    status: Annotated[str | None, typer.Option(help="verifying, ready, missing or deleted.")] = None,
    limit: int = 50, url: UrlOpt = None, as_json: JsonOpt = False,
) -> None:
    """Recordings, newest first."""
    params: dict[str, Any] = {"limit": limit}
    if room:
        params["room_name"] = room
    if status:
        params["status"] = status
    items = call(url, "GET", "/v1/recordings", params=params)["items"]
    if as_json:
        console.print_json(json.dumps(items))
        return
    out = table("id", "status", "room", "key", "size", "duration", "recorded")
    for r in items:
        out.add_row(r["id"], r["status"], r["room_name"], r["key"], f"{r['size_bytes']:,}",
                    f"{r['duration_s']:.1f} s", shown(r["started_at"] or r["created_at"]))
    console.print(out)


@recordings_app.command("show")
def recordings_show(
    recording_id: RecordingRef, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """One recording with its history."""
    rec = call(url, "GET", f"/v1/recordings/{recording_id}")
    if as_json:
        console.print_json(json.dumps(rec))
        return
    for name in ("id", "status", "reason", "kind", "storage", "bucket", "key", "size_bytes", "duration_s",
                 "room_name", "room_id", "egress_id", "started_at", "ended_at", "verified_at", "deleted_at"):
        if rec.get(name) not in (None, ""):
            console.print(f"[bold]{name}[/]: {rec[name]}")
    for event in rec.get("events") or []:
        console.print(f"  {event['at']}  {event['status_before'] or '-'} -> {event['status_after']}  {event['detail']}"
                      f"  by {event.get('actor') or 'system'}")


@recordings_app.command("url")
def recordings_url(
    recording_id: RecordingRef, expires_in: Annotated[int | None, typer.Option(help="Seconds the link works.")] = None,
    url: UrlOpt = None, as_json: JsonOpt = False,
) -> None:
    """Print a download link that works without the API token until it expires."""
    params: dict[str, Any] = {"redirect": "false"}
    if expires_in:
        params["expires_in"] = expires_in
    link = call(url, "GET", f"/v1/recordings/{recording_id}/download", params=params)
    if as_json:
        console.print_json(json.dumps(link))
    else:
        typer.echo(link["url"])


@recordings_app.command("download")
def recordings_download(
    recording_id: RecordingRef,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File to write (default: the key's name).")]
    = None,
    url: UrlOpt = None,
) -> None:
    """Download a recording; a partial file from an earlier attempt is resumed with an HTTP Range request."""
    rec = call(url, "GET", f"/v1/recordings/{recording_id}")
    link = call(url, "GET", f"/v1/recordings/{recording_id}/download", params={"redirect": "false"})["url"]
    target = output or Path(rec["key"].rsplit("/", 1)[-1] or recording_id)
    have = target.stat().st_size if target.exists() else 0
    total = int(rec.get("size_bytes") or 0)
    if total and have == total:
        err.print(f"{target} is already complete ({total:,} bytes)")
        return
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        with httpx.stream("GET", link, headers=headers, timeout=60, follow_redirects=True) as response:
            if response.status_code not in (200, 206):
                err.print(f"[red]download failed: HTTP {response.status_code}")
                raise typer.Exit(1)
            resumed = response.status_code == 206
            size = int(response.headers.get("content-length", 0)) + (have if resumed else 0)
            with target.open("ab" if resumed else "wb") as fh, Progress(
                "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                console=err, transient=False,
            ) as progress:
                task = progress.add_task(target.name, total=size or None, completed=have if resumed else 0)
                for chunk in response.iter_bytes(1 << 16):
                    fh.write(chunk)
                    progress.advance(task, len(chunk))
    except httpx.HTTPError as exc:
        err.print(f"[red]download interrupted ({type(exc).__name__}); run the command again to resume")
        raise typer.Exit(3) from None
    err.print(f"wrote {target} ({target.stat().st_size:,} bytes{', resumed' if resumed else ''})")


@recordings_app.command("delete")
def recordings_delete(
    recording_id: RecordingRef, yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    url: UrlOpt = None,
) -> None:
    """Delete the stored objects; the recording stays in the catalog as `deleted`."""
    if not yes:
        typer.confirm(f"Delete the stored objects of {recording_id}?", abort=True)
    rec = call(url, "DELETE", f"/v1/recordings/{recording_id}")
    console.print(f"{rec['id']}: {rec['status']}")


@recordings_app.command("retention")
def recordings_retention(
    days: Annotated[float | None, typer.Option(help="Default: ORCHESTRATOR_RECORDINGS_RETENTION_DAYS.")] = None,
    url: UrlOpt = None, as_json: JsonOpt = False,
) -> None:
    """Dry run: list what the retention job would delete now."""
    report = call(url, "GET", "/v1/recordings/retention", params={"days": days} if days else {})
    if as_json:
        console.print_json(json.dumps(report))
        return
    console.print(f"older than {report['cutoff']}: {len(report['recordings'])} recording(s) would be deleted")
    for r in report["recordings"]:
        console.print(f"  {r['id']}  {r['room_name']}  {r['key']}  {r['ended_at']}")
