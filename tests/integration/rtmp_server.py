"""A real RTMP server for tests: nginx with the RTMP module on a loopback port, recording every stream to FLV.

Use the ``nginx_rtmp`` fixture (import it into the test module) or the ``RtmpServer`` context manager::

    with RtmpServer(tmp_path) as rtmp:
        url = rtmp.url("key")                  # rtmp://127.0.0.1:PORT/live/key
        ...                                    # publish to it
        [path] = rtmp.wait_recordings("key")   # recorded FLV files once they stopped growing
        rtmp.duration(path)                    # seconds, via ffprobe

``refused_port()``/``refused_url(key)`` give a loopback destination where nothing listens.
Needs the Debian packages ``nginx`` and ``libnginx-mod-rtmp`` (and ``ffmpeg`` for ffprobe); runs as the current
user with everything (config, pid, logs, recordings) under a private directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest

MODULE_DIRS = ("/usr/lib/nginx/modules", "/usr/lib64/nginx/modules", "/usr/share/nginx/modules")
MODULE_NAME = "ngx_rtmp_module.so"

_CONFIG = """\
load_module {module};
daemon off;
master_process off;
pid {root}/nginx.pid;
lock_file {root}/nginx.lock;
error_log {root}/error.log info;
events {{ worker_connections 256; }}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        application live {{
            live on;
            record all;
            record_path {root}/recordings;
            record_unique on;
        }}
    }}
}}
"""


def rtmp_module() -> Path | None:
    """Where Debian (or a similar layout) installed the nginx RTMP module, if anywhere."""
    for directory in MODULE_DIRS:
        candidate = Path(directory) / MODULE_NAME
        if candidate.is_file():
            return candidate
    return None


def missing_tools() -> list[str]:
    """What is needed for a real RTMP server (and for probing its recordings) but not installed."""
    missing = [tool for tool in ("nginx", "ffprobe") if shutil.which(tool) is None]
    if rtmp_module() is None:
        missing.append(f"nginx RTMP module ({MODULE_NAME}; Debian package libnginx-mod-rtmp)")
    return missing


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def refused_port() -> int:
    """A loopback TCP port where nothing listens (connections to it are refused)."""
    return _free_port()


def refused_url(key: str) -> str:
    """An RTMP URL on loopback that refuses connections."""
    return f"rtmp://127.0.0.1:{refused_port()}/live/{key}"


def duration(path: Path) -> float:
    """Media duration of a recording in seconds, as ffprobe reports it (last packet time if the header has none)."""
    probe = ["ffprobe", "-v", "error", "-of", "csv=p=0"]
    out = subprocess.run(
        [*probe, "-show_entries", "format=duration", str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        return float(out)
    except ValueError:
        packets = subprocess.run(
            [*probe, "-show_entries", "packet=pts_time", str(path)], capture_output=True, text=True, check=True
        ).stdout.split()
        return max((float(p.strip(",")) for p in packets if p.strip(",") not in ("", "N/A")), default=0.0)


class RtmpServer:
    """nginx + RTMP module on ``127.0.0.1:port``; application ``live`` records each published stream."""

    def __init__(self, root: Path | None = None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="rtmp-")
            root = Path(self._tmp.name)
        self.root = root
        self.recording_dir = root / "recordings"
        self.error_log = root / "error.log"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def url(self, key: str) -> str:
        """``rtmp://127.0.0.1:PORT/live/KEY``."""
        return f"rtmp://127.0.0.1:{self.port}/live/{key}"

    def recordings(self, key: str | None = None) -> list[Path]:
        """Recorded FLV files (of one stream key, or all), oldest first."""
        files = sorted(self.recording_dir.glob("*.flv"), key=lambda p: (p.stat().st_mtime, p.name))
        if key is None:
            return files
        return [p for p in files if p.stem.rsplit("-", 1)[0] == key]

    def wait_recordings(
        self, key: str | None = None, count: int = 1, within: float = 10.0, quiet: float = 0.5
    ) -> list[Path]:
        """Wait for ``count`` non-empty recordings that have not grown for ``quiet`` seconds (publisher gone)."""
        deadline = time.monotonic() + within
        last: list[tuple[Path, int]] = []
        stable_since = time.monotonic()
        while True:
            files = [p for p in self.recordings(key) if p.stat().st_size > 0]
            sizes = [(p, p.stat().st_size) for p in files]
            if sizes != last:
                last, stable_since = sizes, time.monotonic()
            elif len(files) >= count and time.monotonic() - stable_since >= quiet:
                return files
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} settled recording(s) for {key!r}, got {sizes}")
            time.sleep(0.05)

    def duration(self, path: Path) -> float:
        return duration(path)

    def start(self) -> RtmpServer:
        """Start nginx on a free loopback port; returns once it accepts connections."""
        missing = missing_tools()
        if missing:
            raise RuntimeError(f"cannot start an RTMP server, missing: {', '.join(missing)}")
        self.recording_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # the free port may be taken between the check and nginx's bind
            self.port = _free_port()
            conf = self.root / "nginx.conf"
            conf.write_text(_CONFIG.format(module=rtmp_module(), root=self.root, port=self.port))
            log = (self.root / "nginx.out").open("ab")
            self._proc = subprocess.Popen(
                ["nginx", "-p", str(self.root), "-c", str(conf), "-e", str(self.error_log)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
            log.close()
            if self._wait_listening(within=10.0):
                return self
            self._reap()
        raise RuntimeError(f"nginx did not start: {self.log_tail()}")

    def _wait_listening(self, within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.02)
        return False

    def log_tail(self, lines: int = 20) -> str:
        text = ""
        for name in ("nginx.out", "error.log"):
            path = self.root / name
            if path.exists():
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _reap(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def stop(self) -> None:
        """Stop nginx (fast shutdown) and remove the private directory if this server created it."""
        self._reap()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> RtmpServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@pytest.fixture
def nginx_rtmp(tmp_path: Path) -> Iterator[RtmpServer]:
    """A running RTMP server for one test; skipped when nginx-rtmp is not installed (failed in CI)."""
    missing = missing_tools()
    if missing:
        message = f"real RTMP server unavailable, missing: {', '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    root = tmp_path / "rtmp"
    root.mkdir()
    with RtmpServer(root) as server:
        yield server
