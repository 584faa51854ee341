"""`GET /v1/events` across two `orchestrator serve` processes on one PostgreSQL: a change made through replica A
is on replica B's stream within 2 s; the kind filter; Last-Event-ID resumes; no stream key is ever in the stream."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.sandbox import SandboxFaults, SandboxThread, SandboxTimings
from tests.conftest import LK_KEY, LK_SECRET, PG_ADMIN_URL, make_settings
from tests.harness import API_TOKEN, ServiceThread, free_port, wait_until

STREAM_KEY = "sk-live-events-0123456789SECRET"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@dataclass
class Replicas:
    a: str
    b: str
    sandbox: SandboxThread


@pytest.fixture(scope="module")
def replicas(pg_available: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    if not pg_available:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL on 127.0.0.1:5432 is required in CI")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    import psycopg

    name = f"orch_events_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    sandbox = SandboxThread(api_key=LK_KEY, api_secret=LK_SECRET, faults=SandboxFaults(),
                            timings=SandboxTimings(activate_after=0.1, finalize_after=0.1, no_worker_after=0.2))
    sandbox.start()
    tmp = tmp_path_factory.mktemp("events")
    urls, procs = [], []
    try:
        for i in range(2):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            env = {**os.environ, "LIVEKIT_URL": sandbox.url, "LIVEKIT_API_KEY": LK_KEY,
                   "LIVEKIT_API_SECRET": LK_SECRET, "ORCHESTRATOR_DATABASE_URL": database,
                   "ORCHESTRATOR_API_TOKEN": API_TOKEN, "ORCHESTRATOR_PORT": str(port),
                   "ORCHESTRATOR_PUBLIC_URL": url, "ORCHESTRATOR_DATA_DIR": str(tmp / f"r{i}"),
                   "ORCHESTRATOR_INSTANCE_ID": f"replica-{i}", "ORCHESTRATOR_LOG_LEVEL": "WARNING"}
            log = (tmp / f"r{i}.log").open("wb")
            procs.append(subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "serve"], env=env,
                                          stdout=log, stderr=subprocess.STDOUT))
            urls.append(url)
            wait_until(lambda u=url: _up(u), timeout=120)  # one at a time: each migrates the same database
        sandbox.sandbox.webhook_urls[:] = [f"{urls[0]}/webhooks/livekit"]  # LiveKit reports to A only
        sandbox.call(sandbox.sandbox.join, "studio", "host")
        yield Replicas(urls[0], urls[1], sandbox)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)
        sandbox.stop()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Stream:
    """A `GET /v1/events` read in a thread: each event as (time received, fields), and every byte."""

    events: queue.Queue[tuple[float, dict[str, Any]]] = field(default_factory=queue.Queue)
    raw: bytearray = field(default_factory=bytearray)
    status: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def next(self, timeout: float = 5) -> tuple[float, dict[str, Any]]:
        return self.events.get(timeout=timeout)

    def until(self, pred: Any, timeout: float = 5) -> tuple[float, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            when, ev = self.next(max(deadline - time.monotonic(), 0.01))
            if pred(ev):
                return when, ev


def open_stream(url: str, params: Any = None, headers: dict[str, str] | None = None) -> Stream:
    stream = Stream()
    opened = threading.Event()

    def read() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the service stops first at the end of the module
            read_events()

    def read_events() -> None:
        with httpx.Client(timeout=httpx.Timeout(5, read=30)) as client, client.stream(
                "GET", f"{url}/v1/events", params=params, headers={**AUTH, **(headers or {})}) as r:
            stream.status = r.status_code
            opened.set()
            fields: dict[str, Any] = {}
            for line in r.iter_lines():
                stream.raw.extend(line.encode() + b"\n")
                if stream.stop.is_set():
                    return
                if not line:
                    if "event" in fields:
                        fields["data"] = json.loads(fields["data"])
                        stream.events.put((time.monotonic(), fields))
                    fields = {}
                elif not line.startswith(":"):
                    key, _, value = line.partition(": ")
                    fields[key] = value

    threading.Thread(target=read, daemon=True).start()
    assert opened.wait(30)
    assert stream.status == 200
    time.sleep(0.3)  # the stream is subscribed once its first byte could be sent
    return stream


def start_egress(url: str) -> dict[str, Any]:
    r = httpx.post(f"{url}/v1/egresses", headers=AUTH, timeout=30, json={
        "kind": "room_composite", "room_name": "studio", "layout": "grid",
        "outputs": [{"type": "rtmp", "url": f"rtmp://127.0.0.1:1/live/{STREAM_KEY}"}]})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.mark.postgres
def test_a_change_through_replica_a_is_on_replica_bs_stream_within_2_s_without_its_key(replicas: Replicas) -> None:
    on_b = open_stream(replicas.b)
    sent = time.monotonic()
    egress = start_egress(replicas.a)
    when, event = on_b.until(lambda ev: ev["data"]["id"] == egress["id"])
    assert when - sent < 2.0, f"{when - sent:.2f} s"
    assert event["event"] == "egress" and event["id"]
    assert {"kind", "id", "status", "room_name", "at"} <= event["data"].keys()
    assert event["data"]["room_name"] == "studio"
    # A row that changed twice between two polls is sent once, with its latest status: the first event may already
    # say active. How soon the sandbox's egress goes active is its own business; the 2 s above is the stream's.
    if event["data"]["status"] != "active":
        on_b.until(lambda ev: ev["data"]["id"] == egress["id"] and ev["data"]["status"] == "active", timeout=30)
    httpx.post(f"{replicas.a}/v1/egresses/{egress['id']}/stop", headers=AUTH, timeout=30)
    on_b.until(lambda ev: ev["data"]["id"] == egress["id"] and ev["data"]["status"] in ("complete", "failed"),
               timeout=30)
    on_b.stop.set()
    assert STREAM_KEY.encode() not in on_b.raw and b"rtmp://" not in on_b.raw


@pytest.mark.postgres
def test_only_the_kinds_asked_for(replicas: Replicas) -> None:
    broadcasts = open_stream(replicas.b, params=[("kind", "broadcast"), ("kind", "run")])
    start_egress(replicas.a)
    r = httpx.post(f"{replicas.a}/v1/broadcasts", headers=AUTH, timeout=30, json={
        "room_name": "studio", "layout": "grid", "title": "Morning <b>show</b>", "start_at": "2099-01-01T10:00:00Z",
        "max_duration_s": 60, "destinations": [{"type": "rtmp", "url": f"rtmp://127.0.0.1:1/live/{STREAM_KEY}"}]})
    assert r.status_code == 201, r.text
    _, event = broadcasts.until(lambda ev: ev["event"] == "broadcast")
    assert event["data"]["id"] == r.json()["id"] and event["data"]["title"] == "Morning <b>show</b>"
    _, run = broadcasts.until(lambda ev: ev["event"] == "run")
    assert run["data"]["broadcast_id"] == r.json()["id"]
    time.sleep(1.0)
    kinds = {ev["event"] for _, ev in list(broadcasts.events.queue)}
    assert kinds <= {"broadcast", "run"}
    broadcasts.stop.set()
    assert STREAM_KEY.encode() not in broadcasts.raw


@pytest.mark.postgres
def test_last_event_id_resumes_after_that_event(replicas: Replicas) -> None:
    first = open_stream(replicas.b, params={"kind": "egress"})
    one = start_egress(replicas.a)
    _, seen = first.until(lambda ev: ev["data"]["id"] == one["id"])
    first.stop.set()
    two = start_egress(replicas.a)
    resumed = open_stream(replicas.b, params={"kind": "egress"}, headers={"Last-Event-ID": seen["id"]})
    _, replayed = resumed.next()  # what changed after `seen` (one's later statuses, two), not `seen` again
    assert replayed["data"]["id"] in (one["id"], two["id"]) and replayed["id"] != seen["id"]
    if replayed["data"]["id"] != two["id"]:
        resumed.until(lambda ev: ev["data"]["id"] == two["id"])
    resumed.stop.set()
    assert seen["id"].encode() not in resumed.raw


@pytest.mark.postgres
def test_credentials_and_bad_input(replicas: Replicas) -> None:
    assert httpx.get(f"{replicas.b}/v1/events", timeout=5).status_code == 401
    r = httpx.get(f"{replicas.b}/v1/events", params={"kind": "people"}, headers=AUTH, timeout=5)
    assert r.status_code == 422 and r.json()["error"]["field"] == "kind" and "people" in r.json()["error"]["message"]
    r = httpx.get(f"{replicas.b}/v1/events", headers={**AUTH, "Last-Event-ID": "garbage"}, timeout=5)
    assert r.status_code == 422 and r.json()["error"]["field"] == "Last-Event-ID"


def _listen_raw(url: str) -> socket.socket:
    """A client of the stream over a plain socket: the request, the response head, and nothing more."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(f"GET /v1/events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {API_TOKEN}\r\n"
                 "Accept: text/event-stream\r\n\r\n".encode())
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    return sock


def test_a_client_that_leaves_is_forgotten_and_nothing_is_polled_for_it(tmp_path: Path) -> None:
    sandbox = SandboxThread(api_key=LK_KEY, api_secret=LK_SECRET, faults=SandboxFaults(), timings=SandboxTimings())
    sandbox.start()
    service = ServiceThread(make_settings(f"sqlite:///{tmp_path / 'o.db'}", sandbox, tmp_path / "data")).start()
    try:
        feed = service.container.events
        clients = [_listen_raw(service.url) for _ in range(3)]
        wait_until(lambda: feed.listening == 3 and feed.polling, timeout=5)
        for sock in clients:
            sock.close()  # as a browser tab that is closed
        wait_until(lambda: feed.listening == 0 and not feed.polling, timeout=5)
    finally:
        service.stop()
        sandbox.stop()
