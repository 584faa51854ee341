"""The README as tests: every quick-start command run as written against `orchestrator serve` on embedded defaults."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.readme import REPO, first_command, quick_start, run_quick_start

README = (REPO / "README.md").read_text()


def test_the_quick_start_covers_the_three_jobs() -> None:
    commands = [c for block in quick_start(README) for c in block]
    text = "\n".join(commands)
    assert "egress start --room demo --s3" in text and "--mux" in text
    assert "/v1/broadcasts" in text and "-H 'Content-Type: application/json'" in text and '"room_name": "demo"' in text
    assert "rules add" in text and "/sandbox/rooms" in text
    assert "recordings download <id>" in text
    assert first_command(README).endswith("&& .venv/bin/orchestrator serve")


def test_readme_quick_start_runs_as_written(tmp_path: Path) -> None:
    serve = first_command(README).rsplit("&&", 1)[-1].strip()  # the README's own `orchestrator serve`
    result = run_quick_start(tmp_path, serve, README)
    steps = result["steps"]
    assert isinstance(steps, list)
    for step in steps:
        assert step["exit_status"] == 0 and '{"error"' not in step["output"], (
            f"README step failed: {step['command']}\nran: {step['ran']}\n{step['output']}")
    assert len(steps) == result["expected_steps"]
    assert result["loud_lines"] == []
    by_command = {s["command"].split("#")[0].strip(): s["output"] for s in steps}
    assert "sandbox-stream-key" not in "".join(by_command.values())  # the stream key is never shown whole
    listed = by_command[".venv/bin/orchestrator recordings list"]
    assert "class-1" in listed and "ready" in listed
    _assert_downloaded_mp4(tmp_path / "class-1.mp4")
    people = by_command[".venv/bin/orchestrator users list"]
    assert "alice" in people and "admin" in people and "passphrase" not in people


def _assert_downloaded_mp4(path: Path) -> None:
    """The recording downloaded by `recordings download`: a real MP4 (the sandbox's test pattern)."""
    data = path.read_bytes()
    assert len(data) > 10_000 and data[4:8] == b"ftyp", f"{path}: {len(data)} bytes, starts {data[:16]!r}"
    if shutil.which("ffprobe"):
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type",
                                "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True)
        assert "video" in probe.stdout, probe.stdout


def _local_index() -> str | None:
    """A package index on this machine's disk (pip's configured file:// index) that has the build backend."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    for url in re.findall(r"file://[^\s'\"]+", listed):
        if (Path(url.removeprefix("file://")) / "hatchling").is_dir():
            return url
    return None


def _can_isolate() -> bool:
    if not (shutil.which("unshare") and shutil.which("ip") and shutil.which("git")):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


OFFLINE = "ip link set lo up && exec \"$@\""  # a network namespace of its own: loopback only


@pytest.mark.skipif(not _can_isolate(), reason="needs git, ip and `unshare -n` (root)")
def test_fresh_clone_then_quick_start_with_no_network(tmp_path: Path) -> None:
    """A fresh clone, the README's first command as written (venv, `pip install .`, serve), then the
    quick-start, all in a network namespace where only loopback exists. pip cannot reach any registry
    there: it builds the package from the clone with the build backend from this machine's on-disk index,
    and finds the runtime dependencies already installed (this test venv's, on PYTHONPATH)."""
    index = _local_index()
    if index is None:
        pytest.skip("no package index on disk with the build backend (pip's config names none)")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    site = next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_relative_to(sys.prefix))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update({"PIP_INDEX_URL": index, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "PYTHONPATH": site})
    offline = ["unshare", "-n", "bash", "-c", OFFLINE, "offline"]
    connect = "import socket; socket.create_connection(('1.1.1.1', 443), 3)"
    probe = subprocess.run([*offline, sys.executable, "-c", connect], capture_output=True, text=True, env=env)
    assert probe.returncode != 0 and "unreachable" in probe.stderr.lower(), probe.stderr  # nothing gets out
    run = subprocess.run([*offline, sys.executable, "-m", "tests.integration.readme", str(clone)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.stdout.strip(), run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    failed = [s for s in result["steps"] if s["exit_status"] != 0 or '{"error"' in s["output"]]
    assert result["held"] and not failed, failed[:1] or result
    installed = clone / ".venv" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    assert (installed / "orchestrator" / "__init__.py").is_file()  # the clone's own package, not an editable link
    _assert_downloaded_mp4(clone / "class-1.mp4")
