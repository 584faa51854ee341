"""Finds the layout assets (JS, CSS, vendored livekit-client) and Jinja2 templates on disk."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# A file that must exist for a directory to count as the real asset set: an installed
# package can carry a stale, empty ``_assets`` from an older build.
_MARKERS = ("layouts/geometry.js", "templates/layout.html.j2")


@dataclass(frozen=True, slots=True)
class AssetDirs:
    """Where the static layout code and the page templates live."""

    static: Path
    templates: Path


def _complete(root: Path) -> bool:
    return all((root / marker).is_file() for marker in _MARKERS)


def locate_assets(package_dir: Path | None = None) -> AssetDirs:
    """The installed copy (``orchestrator/_assets``) first, then the repository checkout.

    ``package_dir`` is the ``orchestrator`` package directory (default: this one).
    """
    package_dir = package_dir or Path(__file__).resolve().parent.parent
    for root in (package_dir / "_assets", package_dir.parent):
        if _complete(root):
            return AssetDirs(static=root / "layouts", templates=root / "templates")
    raise FileNotFoundError(
        f"layout assets not found under {package_dir / '_assets'} or {package_dir.parent}"
    )


@lru_cache(maxsize=64)
def _digest(path: Path, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def content_version(path: Path) -> str:
    """A short content hash, used as ``?v=`` so that assets can be cached as immutable."""
    stat = path.stat()
    return _digest(path, stat.st_mtime_ns, stat.st_size)
