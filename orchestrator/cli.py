"""The `orchestrator` command: run the service or the sandbox, check the set-up, drive egresses over the API."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from orchestrator.cli_broadcasts import broadcast_app
from orchestrator.cli_rules import rules_app, sessions_app
from orchestrator.config import Settings

app = typer.Typer(help="Egress Orchestrator: LiveKit egress, durably.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)
egress_app = typer.Typer(help="Start, list, show and stop egresses (over the REST API).", no_args_is_help=True)
app.add_typer(egress_app, name="egress")
app.add_typer(broadcast_app, name="broadcast")
app.add_typer(rules_app, name="rules")
app.add_typer(sessions_app, name="sessions")
console = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
UrlOpt = Annotated[str | None, typer.Option("--url", envvar="ORCHESTRATOR_PUBLIC_URL",
                                            help="The service's base URL.")]


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (ORCHESTRATOR_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (ORCHESTRATOR_PORT).")] = None,
) -> None:
    """Run the service (and the sandbox LiveKit when LIVEKIT_URL is not set)."""
    from orchestrator.api.app import create_app

    settings = serve_settings(host, port)
    run_server(create_app(settings), settings)


def serve_settings(host: str | None = None, port: int | None = None) -> Settings:
    """The settings `serve` runs with: the environment's, with --host/--port applied."""
    settings = Settings()
    updates: dict[str, Any] = {}
    if host:
        updates["host"] = host
    if port is not None:
        updates["port"] = port
    if updates and "public_url" not in settings.model_fields_set:
        # Webhooks and layout pages must reach this process where it really listens.
        updates["public_url"] = f"http://{updates.get('host', settings.host)}:{updates.get('port', settings.port)}"
    return settings.model_copy(update=updates)


def run_server(asgi_app: Any, settings: Settings) -> None:
    """uvicorn as `serve` runs it (with uvloop and httptools when installed, as they are by default)."""
    import uvicorn

    from orchestrator.logs import setup_logging

    setup_logging(settings.log_level)
    uvicorn.run(asgi_app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
                proxy_headers=True)


@app.command()
def sandbox(
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port (LiveKit's default is 7880).")] = 7880,
    webhook: Annotated[list[str] | None, typer.Option(help="Webhook URL (repeatable); default: "
                                                            "ORCHESTRATOR_PUBLIC_URL/webhooks/livekit.")] = None,
) -> None:
    """Run the sandbox LiveKit alone, for developing an app against it."""
    from orchestrator.bootstrap import livekit_target
    from orchestrator.logs import setup_logging
    from orchestrator.sandbox import SandboxLiveKit, serve_sandbox

    settings = Settings()
    setup_logging(settings.log_level)
    target = livekit_target(settings.model_copy(update={"livekit_url": None}))
    urls = webhook if webhook is not None else [f"{settings.public_url}/webhooks/livekit"]
    err.print(f"[bold yellow]Sandbox LiveKit[/] on http://{host}:{port}  (API key {target.api_key!r}; "
              f"secret from LIVEKIT_API_SECRET or the built-in sandbox secret)")
    err.print(f"Webhooks to: {', '.join(urls) or 'nowhere'}.  Control API: http://{host}:{port}/sandbox")

    async def main() -> None:
        sb = SandboxLiveKit(target.api_key, target.api_secret, webhook_urls=urls)
        await serve_sandbox(sb, host, port)

    asyncio.run(main())


@app.command()
def doctor(as_json: JsonOpt = False) -> None:
    """Check the configuration, the database, and that LiveKit answers with credentials that may record."""
    from orchestrator.bootstrap import livekit_target, storage_target
    from orchestrator.domain.errors import LiveKitError

    checks: list[tuple[str, bool, str]] = []
    try:
        settings = Settings()
        checks.append(("configuration", True, "loaded from the environment"))
    except Exception as exc:
        _report([("configuration", False, str(exc).splitlines()[0])], as_json)
        raise typer.Exit(1) from None
    try:
        from orchestrator.adapters.sql.egress_repository import SqlEgressRepository
        from orchestrator.adapters.sql.engine import build_engine

        engine = build_engine(settings.database_url_resolved)
        SqlEgressRepository(engine).ping()
        engine.dispose()
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
        from orchestrator.adapters.livekit import LiveKitEgressGateway

        async def probe() -> None:
            gateway = LiveKitEgressGateway(target.url, target.api_key, target.api_secret, timeout_s=5,
                                           attempts=1)
            try:
                await gateway.check_access()
            finally:
                await gateway.aclose()

        where = "sandbox LiveKit (no LIVEKIT_URL)" if target.sandbox else target.url
        try:
            asyncio.run(probe())
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


# ---- egress commands over the REST API ---------------------------------------------------------


def _client(url: str | None) -> httpx.Client:
    settings = Settings()
    base = (url or settings.public_url).rstrip("/")
    token = settings.api_token.get_secret_value() if settings.api_token else None
    if token is None and settings.api_token_file.exists():
        token = settings.api_token_file.read_text().strip()
    if not token:
        err.print("[red]No API token: set ORCHESTRATOR_API_TOKEN (or run from the service's data directory).")
        raise typer.Exit(2)
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def _call(url: str | None, method: str, path: str, **kwargs: Any) -> Any:
    try:
        with _client(url) as client:
            response = client.request(method, path, **kwargs)
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


def _egress_table(items: list[dict[str, Any]]) -> Table:
    table = Table("id", "egress_id", "kind", "room", "status", "created", "error")
    for e in items:
        table.add_row(e["id"], e["egress_id"] or "-", e["kind"] or "-", e["room_name"], e["status"],
                      e["created_at"][:19], (e["error"] or "")[:60])
    return table


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
    mux: Annotated[list[str] | None, typer.Option("--mux", help="Mux stream key (repeatable); prefer "
                                                                "MUX_STREAM_KEY in the environment.")] = None,
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
    keys = list(mux or [])
    if os.environ.get("MUX_STREAM_KEY"):
        keys.append(os.environ["MUX_STREAM_KEY"])
    outputs += [{"type": "mux", "stream_key": k} for k in keys]
    body: dict[str, Any] = {"kind": kind, "room_name": room, "layout": layout, "outputs": outputs,
                            "identity": identity, "track_id": track_id, "url": web_url,
                            "audio_only": audio_only}
    if preset:
        body["preset"] = preset
    result = _call(url, "POST", "/v1/egresses", json=body)
    if as_json:
        console.print_json(json.dumps(result))
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
    result = _call(url, "GET", "/v1/egresses", params=params)
    if as_json:
        console.print_json(json.dumps(result))
    else:
        console.print(_egress_table(result["items"]))


@egress_app.command("show")
def egress_show(ref: str, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """One egress (our id or LiveKit's EG_ id) with its history."""
    result = _call(url, "GET", f"/v1/egresses/{ref}")
    if as_json:
        console.print_json(json.dumps(result))
        return
    console.print(_egress_table([result]))
    for f in result["files"]:
        console.print(f"file: {f['location'] or f['filename']}  {f['size_bytes']} bytes  {f['duration_s']:.1f} s")
    for s in result["streams"]:
        console.print(f"stream: {s['url']}  {s['status']}  {s['error']}")
    history = Table("at", "source", "outcome", "before", "after", "detail")
    for e in result["events"]:
        history.add_row(e["at"][:23], e["source"], e["outcome"], e["status_before"] or "-", e["status_after"],
                        e["detail"][:80])
    console.print(history)


@egress_app.command("stop")
def egress_stop(ref: str, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Stop an egress; it ends when LiveKit has finished writing."""
    result = _call(url, "POST", f"/v1/egresses/{ref}/stop")
    if as_json:
        console.print_json(json.dumps(result))
    else:
        console.print(_egress_table([result]))


from orchestrator.cli_recordings import recordings_app  # noqa: E402 - after _call, which it uses

app.add_typer(recordings_app, name="recordings")


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
