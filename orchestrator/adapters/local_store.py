"""LocalObjectStore: recordings on a volume this machine shares with the egress workers (keys are relative paths)."""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.domain.errors import StorageUnavailable
from orchestrator.domain.recordings import ObjectHead


class LocalObjectStore:
    """The ObjectStore port on a directory; a key never reaches outside it. The API streams its files."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, key: str) -> Path:
        path = (self.root / key.lstrip("/")).resolve()
        if not path.is_relative_to(self.root):
            raise StorageUnavailable("a recording path points outside the recordings volume")
        return path

    def file(self, key: str) -> Path | None:
        """The file a key names, or None when it is not (or no longer) there."""
        path = self.path(key)
        return path if path.is_file() else None

    def head(self, bucket: str, key: str) -> ObjectHead | None:
        del bucket
        try:
            return ObjectHead(size=self.path(key).stat().st_size)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageUnavailable(f"recordings volume unreadable: {exc.strerror}") from None

    def read_text(self, bucket: str, key: str, limit: int = 4 * 1024 * 1024) -> str | None:
        del bucket
        try:
            with self.path(key).open("rb") as fh:
                return fh.read(limit).decode("utf-8", errors="replace")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageUnavailable(f"recordings volume unreadable: {exc.strerror}") from None

    def delete(self, bucket: str, keys: list[str]) -> None:
        del bucket
        for key in keys:
            try:
                os.remove(self.path(key))
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StorageUnavailable(f"recordings volume: removing a file failed: {exc.strerror}") from None
