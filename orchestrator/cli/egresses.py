"""`orchestrator egress ...`: start, list, show and stop egresses over the REST API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .client import JsonOpt, UrlOpt, call, console, follow, print_json, table
from .times import shown

egress_app = typer.Typer(help="Start, list, show, update and stop egresses (over the REST API).",
                         no_args_is_help=True)
EgressRef = Annotated[str, typer.Argument(metavar="ID", help="Our egress id or LiveKit's EG_ id.")]


def _egress_table(items: list[dict[str, Any]]) -> Any:
    out = table("id", "egress_id", "kind", "room", "status", "created", "error")
    for e in items:
        out.add_row(e["id"], e["egress_id"] or "-", e["kind"] or "-", e["room_name"], e["status"],
                    shown(e["created_at"]), (e["error"] or "")[:60])
    return out


@egress_app.command("start")
def egress_start(
    room: Annotated[str, typer.Option("--room", help="Room name.")] = "",
    kind: Annotated[str, typer.Option(help="room_composite | track_composite | track | participant | web")] = (
        "room_composite"),
    layout: Annotated[str, typer.Option(help="grid, speaker, gallery, active-speaker, crop...")] = "",
    preset: Annotated[str | None, typer.Option(help="720p30, 1080p30, 1080p60, portrait-720p30...")] = None,
    s3: Annotated[str | None, typer.Option("--s3", help="Record to this S3 key (template allowed).")] = None,
    hls: Annotated[str | None, typer.Option("--hls", help="HLS segments with this filename prefix.")] = None,
    rtmp: Annotated[list[str] | None, typer.Option("--rtmp", help="RTMP(S) URL (repeatable).")] = None,
    mux: Annotated[list[str] | None, typer.Option("--mux", help='Mux stream key (repeatable), e.g. '
                                                                '--mux "$MUX_STREAM_KEY".')] = None,
    identity: Annotated[str, typer.Option(help="Participant identity (participant egress).")] = "",
    track_id: Annotated[str, typer.Option(help="Track id (track egress).")] = "",
    web_url: Annotated[str, typer.Option("--web-url", help="Page URL (web egress).")] = "",
    audio_only: Annotated[bool, typer.Option("--audio-only")] = False,
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start an egress now."""
    outputs: list[dict[str, Any]] = []
    if s3 is not None:
        outputs.append({"type": "s3", "filepath": s3})
    if hls is not None:
        outputs.append({"type": "hls", "filename_prefix": hls})
    outputs += [{"type": "rtmp", "url": u} for u in rtmp or []]
    outputs += [{"type": "mux", "stream_key": k} for k in mux or []]  # only what was asked for
    body: dict[str, Any] = {"kind": kind, "room_name": room, "layout": layout, "outputs": outputs,
                            "identity": identity, "track_id": track_id, "url": web_url,
                            "audio_only": audio_only}
    if preset:
        body["preset"] = preset
    result = call(url, "POST", "/v1/egresses", json=body)
    if as_json:
        print_json(result)
    else:
        console.print(_egress_table([result]))


@egress_app.command("list")
def egress_list(
    room: Annotated[str | None, typer.Option("--room")] = None,
    status: Annotated[list[str] | None, typer.Option("--status")] = None,
    active: Annotated[bool, typer.Option("--active", help="Only egresses that have not ended.")] = False,
    limit: Annotated[int, typer.Option(help="Page size.")] = 50,
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List egresses, newest first."""
    params: dict[str, Any] = {"limit": limit}
    if room:
        params["room_name"] = room
    if status:
        params["status"] = status
    if active:
        params["active"] = "true"
    result = call(url, "GET", "/v1/egresses", params=params)
    if as_json:
        print_json(result)
    else:
        console.print(_egress_table(result["items"]))


@egress_app.command("show")
def egress_show(
    ref: EgressRef, url: UrlOpt = None, as_json: JsonOpt = False,
    follow_: Annotated[bool, typer.Option("--follow", "-f", help="Follow it live until it ends (Ctrl-C stops).")]
    = False,
) -> None:
    """One egress with its history."""
    render = print_json if as_json else _show_egress
    if follow_:
        follow(lambda: call(url, "GET", f"/v1/egresses/{ref}"), render, lambda e: str(e["status"]))
    else:
        render(call(url, "GET", f"/v1/egresses/{ref}"))


def _show_egress(result: dict[str, Any]) -> None:
    console.print(_egress_table([result]))
    for f in result["files"]:
        console.print(f"file: {f['location'] or f['filename']}  {f['size_bytes']} bytes  {f['duration_s']:.1f} s")
    for s in result["streams"]:
        console.print(f"stream: {s['url']}  {s['status']}  {s['error']}")
    history = table("at", "source", "outcome", "before", "after", "detail", "by")
    for e in result["events"]:
        history.add_row(shown(e["at"]), e["source"], e["outcome"], e["status_before"] or "-", e["status_after"],
                        e["detail"], e.get("actor") or "system")
    console.print(history)


@egress_app.command("update")
def egress_update(
    ref: EgressRef,
    layout: Annotated[str | None, typer.Option(help="Switch a composite's layout live.")] = None,
    add_rtmp: Annotated[list[str] | None, typer.Option("--add-rtmp", help="Add a stream URL (repeatable).")] = None,
    remove_rtmp: Annotated[list[str] | None, typer.Option("--remove-rtmp", help="Remove a stream URL (repeatable).")]
    = None,
    url: UrlOpt = None, as_json: JsonOpt = False,
) -> None:
    """Change a running egress: its layout, or the stream URLs it sends to."""
    body: dict[str, Any] = {"add_stream_urls": add_rtmp or [], "remove_stream_urls": remove_rtmp or []}
    if layout is not None:
        body["layout"] = layout
    result = call(url, "PATCH", f"/v1/egresses/{ref}", json=body)
    if as_json:
        print_json(result)
    else:
        console.print(_egress_table([result]))


@egress_app.command("stop")
def egress_stop(ref: EgressRef, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Stop an egress; it ends when LiveKit has finished writing."""
    result = call(url, "POST", f"/v1/egresses/{ref}/stop")
    if as_json:
        print_json(result)
    else:
        console.print(_egress_table([result]))
