"""Where a recording's objects are: S3 (the store built on first use) or the local volume; catalog lookups."""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.domain.errors import NotFound, StorageUnavailable
from orchestrator.domain.recordings import Recording, StorageKind
from orchestrator.services.ports import LocalFiles, ObjectStore, PresigningStore, RecordingStore
from orchestrator.services.threads import in_thread


class RecordingStorage:
    """The object stores recordings live in. S3 comes as a factory (boto3's client is built at first use,
    not at start-up); either may be absent, and using an absent one is StorageUnavailable."""

    def __init__(self, s3: Callable[[], PresigningStore] | None, local: LocalFiles | None) -> None:
        self._s3_factory = s3
        self._s3: PresigningStore | None = None
        self.local = local

    def s3(self) -> PresigningStore:
        if self._s3 is None:
            if self._s3_factory is None:
                raise StorageUnavailable("no S3 storage is configured (ORCHESTRATOR_S3_*)")
            self._s3 = self._s3_factory()
        return self._s3

    def of(self, recording: Recording) -> ObjectStore:
        """The store holding `recording`'s objects."""
        if recording.storage == StorageKind.LOCAL:
            if self.local is None:
                raise StorageUnavailable("no recordings volume is configured (ORCHESTRATOR_RECORDINGS_DIR)")
            return self.local
        return self.s3()


async def load(store: RecordingStore, recording_id: str) -> Recording:
    """The recording, or NotFound."""
    recording = await in_thread(store.get, recording_id)
    if recording is None:
        raise NotFound(f"recording {recording_id} not found")
    return recording
