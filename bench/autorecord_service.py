"""The service exactly as `orchestrator serve` runs it, plus one probe for the automatic-recording benchmark:
each start call's wall-clock time (when aiohttp writes it to LiveKit's connection) and the service's own
measure (from the room_started request reaching the route) go to the file named by BENCH_STARTS_FILE, as
`room_sid time seconds` lines. It listens to the metrics' latency probe (`Metrics.autorecord_latency`).
Run by bench/autorecord_latency.py; not part of the product.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator

from fastapi import FastAPI

from orchestrator.api.app import create_app
from orchestrator.cli import run_server, serve_settings


def main() -> None:
    settings = serve_settings(port=int(os.environ["BENCH_PORT"]))
    app = create_app(settings)
    inner = app.router.lifespan_context
    out = open(os.environ["BENCH_STARTS_FILE"], "w", buffering=1)  # noqa: SIM115 (closed at shutdown)

    def probe(room_sid: str, seconds: float) -> None:
        out.write(f"{room_sid} {time.time():.6f} {seconds:.6f}\n")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with inner(app) as state:
            app.state.container.metrics.autorecord_latency.listen(probe)
            yield state
        out.close()

    app.router.lifespan_context = lifespan
    run_server(app, settings)


if __name__ == "__main__":
    main()
