"""`orchestrator serve` and `orchestrator sandbox`: run the service, or the sandbox LiveKit alone."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from orchestrator.config import Settings

from .client import err


def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (ORCHESTRATOR_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (ORCHESTRATOR_PORT).")] = None,
) -> None:
    """Run the service (and the sandbox LiveKit when LIVEKIT_URL is not set)."""
    from orchestrator.api.app import create_app

    settings = serve_settings(host, port)
    if (refusal := settings.refusal()) is not None:
        err.print(f"orchestrator serve: {refusal}", style="red", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2)
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
