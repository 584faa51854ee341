"""Checks that layouts/vendor/ holds the exact livekit-client build pinned by package-lock.json.

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
PACKAGE = "livekit-client"
# vendored file -> file inside node_modules/livekit-client
VENDORED = {
    "layouts/vendor/livekit-client.umd.js": "dist/livekit-client.umd.js",
    "layouts/vendor/livekit-client.LICENSE": "LICENSE",
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check(root: Path = REPO_ROOT, require: bool = False) -> tuple[int, list[str]]:
    """(exit status, messages) of the comparison."""
    lock = json.loads((root / "package-lock.json").read_text())
    manifest = json.loads((root / "package.json").read_text())
    pinned = manifest["dependencies"][PACKAGE]
    locked = lock["packages"][f"node_modules/{PACKAGE}"]["version"]
    messages = []
    if pinned != locked:
        return 1, [f"package.json pins {PACKAGE} {pinned} but package-lock.json has {locked}"]
    installed_dir = root / "node_modules" / PACKAGE
    if not installed_dir.is_dir():
        status = 2 if require else 0
        return status, [f"node_modules/{PACKAGE} missing: run `npm ci` first (check skipped)"]
    installed = json.loads((installed_dir / "package.json").read_text())["version"]
    if installed != locked:
        return 1, [f"node_modules has {PACKAGE} {installed}, lockfile {locked}: run `npm ci`"]
    status = 0
    for vendored, source in VENDORED.items():
        ours, theirs = root / vendored, installed_dir / source
        if not ours.is_file() or _sha256(ours) != _sha256(theirs):
            status = 1
            messages.append(f"{vendored} differs from node_modules/{PACKAGE}/{source}: cp it over")
        else:
            messages.append(f"{vendored} == {PACKAGE}@{locked}/{source} (sha256 {_sha256(ours)[:16]})")
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
