"""`orchestrator serve` as a person runs it: a subprocess in a directory of its own, on free ports."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.harness import free_port

SERVE = ".venv/bin/orchestrator serve"  # as the README says
VENV = Path(sys.executable).parent.parent  # the venv running the tests: .venv/bin/orchestrator is in it
# A log line at WARNING or above: ours ("2026-11-29 13:23:16,087 WARNING name: ...") or uvicorn's ("ERROR:  ...").
LOUD = re.compile(r"^(?:\S+ \S+ )?(WARNING|ERROR|CRITICAL)[: ]", re.MULTILINE)


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    cwd: Path
    env: dict[str, str]
    port: int
    sandbox_port: int
    stderr_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    @property
    def token(self) -> str:
        return (self.cwd / "data" / "api-token").read_text().strip()

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def loud_lines(self) -> list[str]:
        """Every WARNING, ERROR or CRITICAL line the service wrote so far."""
        return [line for line in self.log().splitlines() if LOUD.match(line)]


def serve_env(cwd: Path, extra: Mapping[str, str] = ()) -> tuple[dict[str, str], int, int]:
    """The environment of a service on embedded defaults (data in `cwd/data`) on free ports, with nothing
    of the calling environment that would point it elsewhere (LiveKit, S3, a database, a token)."""
    port, sandbox_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ORCHESTRATOR_", "LIVEKIT_", "MUX_", "AWS_"))}
    env.update({"ORCHESTRATOR_PORT": str(port), "ORCHESTRATOR_SANDBOX_PORT": str(sandbox_port),
                "PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "COLUMNS": "250", "TERM": "dumb"})
    env.update(extra)
    return env, port, sandbox_port


@contextmanager
def served(cwd: Path, command: str = SERVE, *, extra_env: Mapping[str, str] = (),
           timeout_s: float = 60, link_venv: bool = True) -> Iterator[Served]:
    """Run `command` with bash in `cwd` until the service answers and the sandbox's room `demo` is open in
    the service; stop it with SIGINT (to its whole process group) afterwards. `link_venv`: make `.venv` in
    `cwd` a link to the venv running the tests (unless `command` makes its own)."""
    if link_venv and not (cwd / ".venv").exists():
        (cwd / ".venv").symlink_to(VENV)
    env, port, sandbox_port = serve_env(cwd, extra_env)
    stderr_path = cwd / f"serve-{port}.log"
    with stderr_path.open("wb") as err:
        proc = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=env,
                                stdout=err, stderr=subprocess.STDOUT, start_new_session=True)
    handle = Served(proc, cwd, env, port, sandbox_port, stderr_path)
    try:
        wait_until_ready(handle, timeout_s)
        yield handle
    finally:
        stop(handle)


def wait_until_ready(handle: Served, timeout_s: float) -> None:
    """The API answers, and the service has the sandbox's room `demo` as an open session."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if handle.proc.poll() is not None:
            raise AssertionError(f"serve exited with {handle.proc.returncode}:\n{handle.log()}")
        try:
            sessions = httpx.get(f"{handle.url}/v1/sessions", params={"room_name": "demo", "open": "true"},
                                 headers={"Authorization": f"Bearer {handle.token}"}, timeout=2)
            if sessions.status_code == 200 and sessions.json()["items"]:
                return
        except (httpx.HTTPError, OSError, KeyError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"serve was not ready within {timeout_s} s:\n{handle.log()}")


def stop(handle: Served) -> None:
    if handle.proc.poll() is None:
        os.killpg(handle.proc.pid, signal.SIGINT)  # Ctrl-C, as a person stops it
        try:
            handle.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(handle.proc.pid, signal.SIGKILL)
            handle.proc.wait(5)
