"""Checks that every vendored browser library (livekit-client in layouts/vendor/, htmx, its SSE extension and
hls.js in templates/static/vendor/) is the exact build pinned by package-lock.json.

Run after ``npm ci`` from the repository root: ``python layouts/check_vendor.py``.
Exit status 0 when every vendored file is byte-identical to node_modules, 1 when one differs
or the lockfile and package.json disagree, 2 when node_modules is missing (``--require``
turns "missing" into a failure; without it the check is skipped with status 0).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# package -> {vendored file -> file inside node_modules/<package>}
VENDORED = {
    "livekit-client": {
        "layouts/vendor/livekit-client.umd.js": "dist/livekit-client.umd.js",
        "layouts/vendor/livekit-client.LICENSE": "LICENSE",
    },
    "htmx.org": {
        "templates/static/vendor/htmx.min.js": "dist/htmx.min.js",
        "templates/static/vendor/htmx.LICENSE": "LICENSE",
    },
    "htmx-ext-sse": {
        "templates/static/vendor/htmx-ext-sse.min.js": "dist/sse.min.js",
        "templates/static/vendor/htmx-ext-sse.LICENSE": "LICENSE",
    },
    "hls.js": {
        "templates/static/vendor/hls.light.min.js": "dist/hls.light.min.js",
        "templates/static/vendor/hls.js.LICENSE": "LICENSE",
    },
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_package(root: Path, package: str, files: dict[str, str], require: bool) -> tuple[int, list[str]]:
    lock = json.loads((root / "package-lock.json").read_text())
    manifest = json.loads((root / "package.json").read_text())
    pinned = manifest["dependencies"].get(package)
    locked = lock["packages"].get(f"node_modules/{package}", {}).get("version")
    if pinned is None or pinned != locked:
        return 1, [f"package.json pins {package} {pinned} but package-lock.json has {locked}"]
    installed_dir = root / "node_modules" / package
    if not installed_dir.is_dir():
        status = 2 if require else 0
        return status, [f"node_modules/{package} missing: run `npm ci` first (check skipped)"]
    installed = json.loads((installed_dir / "package.json").read_text())["version"]
    if installed != locked:
        return 1, [f"node_modules has {package} {installed}, lockfile {locked}: run `npm ci`"]
    status, messages = 0, []
    for vendored, source in files.items():
        ours, theirs = root / vendored, installed_dir / source
        if not ours.is_file() or _sha256(ours) != _sha256(theirs):
            status = 1
            messages.append(f"{vendored} differs from node_modules/{package}/{source}: cp it over")
        else:
            messages.append(f"{vendored} == {package}@{locked}/{source} (sha256 {_sha256(ours)[:16]})")
    return status, messages


def check(root: Path = REPO_ROOT, require: bool = False) -> tuple[int, list[str]]:
    """(exit status, messages) of the comparison over every vendored package; the worst status wins."""
    status, messages = 0, []
    for package, files in VENDORED.items():
        one, said = _check_package(root, package, files, require)
        status = 1 if 1 in (status, one) else max(status, one)
        messages.extend(said)
    return status, messages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--require", action="store_true", help="fail when node_modules is missing")
    args = parser.parse_args(argv)
    status, messages = check(require=args.require)
    for line in messages:
        print(line)
    return status


if __name__ == "__main__":
    sys.exit(main())
