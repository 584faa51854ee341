"""MemoryObjectStore: recordings' objects in memory (S3's presigned links and a local volume's files, faked)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from urllib.parse import quote, urlencode

from orchestrator.domain.errors import StorageUnavailable
from orchestrator.domain.recordings import ObjectHead


class MemoryObjectStore:
    """The PresigningStore and LocalFiles ports over a dict of (bucket, key) -> bytes.

    While `unreachable` is set every call raises StorageUnavailable, as S3 does when it cannot be reached.
    As a local volume the bucket is "" (what the catalog stores for local recordings) and `file` names a
    path under `root` that does not exist on disk: enough for the service, which only hands it to the API.
    """

    def __init__(self, root: Path = Path("/memory-volume")) -> None:
        self.root = root
        self.objects: dict[tuple[str, str], tuple[bytes, str]] = {}  # (bucket, key) -> (data, content type)
        self.unreachable = False
        self.calls: list[tuple[str, str, str]] = []  # (operation, bucket, key), every call

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "") -> None:
        self.objects[(bucket, key)] = (data, content_type)

    def _reach(self, op: str, bucket: str, key: str) -> None:
        self.calls.append((op, bucket, key))
        if self.unreachable:
            raise StorageUnavailable(f"storage unreachable ({op} {bucket}/{key}: memory store is down)")

    def head(self, bucket: str, key: str) -> ObjectHead | None:
        self._reach("HEAD", bucket, key)
        found = self.objects.get((bucket, key))
        return ObjectHead(size=len(found[0]), content_type=found[1]) if found else None

    def read_text(self, bucket: str, key: str, limit: int = 4 * 1024 * 1024) -> str | None:
        self._reach("GET", bucket, key)
        found = self.objects.get((bucket, key))
        return found[0][:limit].decode("utf-8", errors="replace") if found else None

    def delete(self, bucket: str, keys: list[str]) -> None:
        for key in keys:
            self._reach("DELETE", bucket, key)
            self.objects.pop((bucket, key), None)

    def presign_get(self, bucket: str, key: str, expires_s: int, *, filename: str = "") -> str:
        self._reach("PRESIGN", bucket, key)
        params = {"expires": expires_s, **({"filename": filename} if filename else {})}
        return f"memory://{bucket}/{quote(key)}?{urlencode(params)}"

    def file(self, key: str) -> Path | None:
        self._reach("FILE", "", key)
        relative = PurePosixPath(key.lstrip("/"))
        if ".." in relative.parts:
            raise StorageUnavailable("a recording path points outside the recordings volume")
        return self.root / relative if ("", key) in self.objects else None
