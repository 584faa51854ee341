"""p99 server time of every list (API and console page) at 1,000 rows and at full size, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.list_pages [--backend sqlite|postgres] [--rounds 200]

Full size: 10,000 broadcasts (50,000 runs), 100,000 egresses, recordings and room sessions, 1,000,000 history
rows (500,000 egress events, 500,000 run events), 1,000 rules; the small set has 1,000 rows of each (see
bench/list_seed.py, which caches both under /tmp by schema). Both services run in this process at once, each
over its own database, and the requests alternate between them (small, large, large, small, ...) so that
whatever else the machine does lands on both. "Server time" is the whole request through an in-process ASGI
client (httpx.ASGITransport, app lifespan run): routing, auth, queries, rendering; no network.
A list passes when its p99 at full size is at most 1.5 times its p99 at 1,000 rows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from bench.common import free_port
from bench.list_seed import LARGE, SMALL, copy_sqlite, postgres_database, sqlite_database
from orchestrator.api.app import create_app
from orchestrator.config import Settings

TOKEN = "bench-lists-token-0123456789abcdef"
PERSON, PASSWORD = "bench", "correct horse battery staple"
ROOM = "room-00007"  # in both sets, with about 100 rows of each kind
BUDGET = 1.5
# (list, default view, typical filter or None)
LISTS = [
    ("GET /v1/egresses", "/v1/egresses", "/v1/egresses?status=failed"),
    ("GET /v1/broadcasts", "/v1/broadcasts", f"/v1/broadcasts?room_name={ROOM}"),
    ("GET /v1/recordings", "/v1/recordings", f"/v1/recordings?room_name={ROOM}"),
    ("GET /v1/sessions", "/v1/sessions", f"/v1/sessions?room_name={ROOM}"),
    ("GET /v1/rules", "/v1/rules", None),
    ("page /", "/", None),
    ("page /broadcasts", "/broadcasts", f"/broadcasts?room={ROOM}"),
    ("page /recordings", "/recordings", f"/recordings?room_name={ROOM}"),
    ("page /rooms", "/rooms", f"/rooms?room={ROOM}"),
    ("page /rules", "/rules", f"/rules?room={ROOM}&metadata="),
    ("page /egresses", "/egresses", "/egresses?status=failed"),
]


@contextlib.asynccontextmanager
async def service(database_url: str, data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The whole app over `database_url` with its lifespan running; a client signed in to the API and console."""
    settings = Settings(database_url=database_url, data_dir=data_dir, api_token=TOKEN, sandbox_port=free_port(),
                        port=free_port())
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", timeout=60,
                                     headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            await _sign_in(client)
            yield client


async def _sign_in(client: httpx.AsyncClient) -> None:
    made = await client.post("/v1/users", json={"name": PERSON, "role": "admin", "password": PASSWORD})
    if made.status_code not in (200, 201, 409):
        raise RuntimeError(f"could not add {PERSON}: {made.status_code} {made.text[:200]}")
    form = await client.get("/sign-in", headers={"Authorization": ""})
    csrf = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = await client.post("/sign-in", data={"name": PERSON, "password": PASSWORD, "csrf_token": csrf,
                                                 "next": "/"}, headers={"Authorization": ""})
    if answer.status_code != 303:
        raise RuntimeError(f"could not sign in: {answer.status_code}")


async def timed(client: httpx.AsyncClient, path: str) -> float:
    headers = {"Authorization": ""} if not path.startswith("/v1/") else None  # pages: the session cookie only
    started = time.perf_counter()
    response = await client.get(path, headers=headers)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
    return elapsed * 1000


def p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(small: str, large: str, rounds: int, pages: bool, only: list[str] | None = None
                  ) -> list[tuple[str, str, list[float], list[float]]]:
    views = [(name, label, path) for name, default, typical in LISTS
             for label, path in (("default", default), ("filter", typical)) if path
             and (pages or path.startswith("/v1/")) and (not only or name in only)]
    with tempfile.TemporaryDirectory() as tmp:
        async with service(small, Path(tmp) / "small") as a, service(large, Path(tmp) / "large") as b:
            for _, _, path in views:  # warm both: caches, first-query plans, templates
                for _ in range(5):
                    await timed(a, path)
                    await timed(b, path)
            times: dict[tuple[str, str], tuple[list[float], list[float]]] = {
                (name, label): ([], []) for name, label, _ in views}
            for n in range(rounds):
                if n % 20 == 0:
                    print(f"  {small.split('/')[-1]} against {large.split('/')[-1]}: round {n + 1}/{rounds}",
                          flush=True)
                for name, label, path in views:
                    at_small, at_large = times[(name, label)]
                    if n % 2:
                        at_large.append(await timed(b, path))
                        at_small.append(await timed(a, path))
                    else:
                        at_small.append(await timed(a, path))
                        at_large.append(await timed(b, path))
    return [(name, label, *times[(name, label)]) for name, label, _ in views]


def report(backend: str, results: list[tuple[str, str, list[float], list[float]]]) -> bool:
    print(f"\n{backend}: p50/p99 at 1k, p99 (and p50) at full size (ms), ratio of the p99s")
    print(f"{'list':22} {'view':8} {'p50 1k':>8} {'p99 1k':>8} {'p99 full':>9} {'ratio':>6}      {'p50 full':>8}")
    passed = True
    for name, label, small, large in results:
        ratio = p(large, 0.99) / p(small, 0.99)
        verdict = "PASS" if ratio <= BUDGET else "FAIL"
        passed = passed and ratio <= BUDGET
        print(f"{name:22} {label:8} {statistics.median(small):8.1f} {p(small, 0.99):8.1f} "
              f"{p(large, 0.99):9.1f} {ratio:6.2f} {verdict} {statistics.median(large):8.1f}")
    return passed


def databases(backend: str, tmp: Path) -> tuple[str, str]:
    if backend == "sqlite":  # private copies: the service writes (a person, sign-ins, the sandbox's room)
        return (copy_sqlite(sqlite_database(SMALL), tmp / "small.db"),
                copy_sqlite(sqlite_database(LARGE), tmp / "large.db"))
    return postgres_database(SMALL), postgres_database(LARGE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], action="append")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--api-only", action="store_true", help="skip the console pages")
    parser.add_argument("--only", action="append", help="only this list (e.g. 'page /'); may be repeated")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    ok = True
    for backend in args.backend or ["sqlite", "postgres"]:
        with tempfile.TemporaryDirectory() as tmp:
            small, large = databases(backend, Path(tmp))
            results = asyncio.run(measure(small, large, args.rounds, not args.api_only, args.only))
        ok = report(backend, results) and ok
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
