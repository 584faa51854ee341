"""Recordings: the catalog of what ended egresses wrote (catalog.py), links (links.py), deletion (retention.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from orchestrator.domain.egress import EgressRecord
from orchestrator.domain.recordings import Recording, RecordingEvent, RecordingQuery
from orchestrator.services.callbacks import CallbackService
from orchestrator.services.changes import EgressChange
from orchestrator.services.ports import Clock, EgressLedger, LocalFiles, PresigningStore, RecordingStore
from orchestrator.services.threads import in_thread

from .catalog import RecordingCatalog, egress_data, recording_data
from .links import DownloadLink, LocalFile, RecordingLinks
from .retention import RecordingRetention, RetentionReport
from .storage import RecordingStorage, load

__all__ = ["DownloadLink", "LocalFile", "RecordingCatalog", "RecordingLinks", "RecordingRetention",
           "RecordingService", "RecordingStorage", "RecordingView", "RetentionReport", "egress_data", "recording_data"]


@dataclass(frozen=True)
class RecordingView:
    recording: Recording
    events: list[RecordingEvent]


class RecordingService:
    """Everything the API, the scheduler and the change feed do with recordings, in one place to call;
    each job is done by its own part (RecordingCatalog, RecordingLinks, RecordingRetention)."""

    def __init__(
        self,
        store: RecordingStore,
        egresses: EgressLedger,
        callbacks: CallbackService,
        clock: Clock,
        *,
        s3: Callable[[], PresigningStore] | None,
        local: LocalFiles | None,
        default_bucket: str,
        public_url: str,
        link_key: bytes,
        link_expiry_s: int = 3600,
        retention_days: float | None = None,
        sweep_lookback: timedelta = timedelta(days=2),
    ) -> None:
        self._store = store
        storage = RecordingStorage(s3, local)
        self._catalog = RecordingCatalog(store, egresses, callbacks, clock, storage, default_bucket=default_bucket,
                                         sweep_lookback=sweep_lookback)
        self._links = RecordingLinks(store, storage, clock, public_url=public_url, link_key=link_key,
                                    link_expiry_s=link_expiry_s)
        self._retention = RecordingRetention(store, storage, clock, retention_days=retention_days)

    @property
    def retention_days(self) -> float | None:
        return self._retention.retention_days

    @property
    def link_expiry_s(self) -> int:
        return self._links.link_expiry_s

    # ---- reads ---------------------------------------------------------------------------------

    async def view(self, recording_id: str) -> RecordingView:
        recording = await load(self._store, recording_id)
        return RecordingView(recording, await in_thread(self._store.history, recording_id))

    async def find(self, query: RecordingQuery) -> list[Recording]:
        return await in_thread(self._store.find, query)

    # ---- the catalog ---------------------------------------------------------------------------

    async def on_egress_change(self, change: EgressChange) -> None:
        await self._catalog.on_egress_change(change)

    def catalog(self, record: EgressRecord) -> list[Recording]:
        return self._catalog.catalog(record)

    async def sweep(self) -> int:
        return await self._catalog.sweep()

    async def verify_due(self) -> int:
        return await self._catalog.verify_due()

    async def verify(self, recording: Recording) -> Recording | None:
        return await self._catalog.verify(recording)

    # ---- links ---------------------------------------------------------------------------------

    async def download_link(self, recording_id: str, expires_s: int | None = None) -> DownloadLink:
        return await self._links.download_link(recording_id, expires_s)

    async def playlist(self, recording_id: str, expires: int, sig: str) -> str:
        return await self._links.playlist(recording_id, expires, sig)

    async def local_file(self, recording_id: str, expires: int, sig: str, key: str = "") -> LocalFile:
        return await self._links.local_file(recording_id, expires, sig, key)

    async def media(self, recording_id: str, key: str = "") -> LocalFile | DownloadLink:
        return await self._links.media(recording_id, key)

    async def playlist_for(self, recording_id: str, segment_link: Callable[[str], str]) -> str:
        return await self._links.playlist_for(recording_id, segment_link)

    # ---- deletion and retention ----------------------------------------------------------------

    async def delete(self, recording_id: str, reason: str = "deleted through the API", *, actor: str) -> Recording:
        """Delete a recording's stored objects at `actor`'s request (a person's or key's name)."""
        return await self._retention.delete(recording_id, reason, actor=actor)

    async def retention(self, *, dry_run: bool = False, days: float | None = None) -> RetentionReport:
        return await self._retention.run(dry_run=dry_run, days=days)

