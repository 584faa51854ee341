"""Download links: presigned S3 GETs, signed playlists of this service, and signed local files it streams."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

from orchestrator.domain.errors import NotFound, StorageUnavailable
from orchestrator.domain.recordings import (
    Recording,
    RecordingKind,
    StorageKind,
    content_type_for,
    describe_object,
    ensure_downloadable,
    link_signature,
    link_valid,
    playlist_segments,
    rewrite_playlist,
)
from orchestrator.services.ports import Clock, RecordingStore
from orchestrator.services.threads import in_thread

from .storage import RecordingStorage, load


@dataclass(frozen=True)
class DownloadLink:
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class LocalFile:
    """A file on the local recordings volume that a signed link may read; the API streams it (with Range)."""

    path: Path
    media_type: str


class RecordingLinks:
    """Links that work without the API token until they expire, signed with a key derived from it."""

    def __init__(self, store: RecordingStore, storage: RecordingStorage, clock: Clock, *, public_url: str,
                 link_key: bytes, link_expiry_s: int) -> None:
        self._store = store
        self._storage = storage
        self._clock = clock
        self._public_url = public_url.rstrip("/")
        self._link_key = link_key
        self.link_expiry_s = link_expiry_s

    async def download_link(self, recording_id: str, expires_s: int | None = None) -> DownloadLink:
        """A link that works without the API token until it expires.

        An S3 file: a presigned GET. HLS: a signed playlist URL of this service whose segment links are
        presigned. A local file: a signed URL of this service that streams it (with Range).
        """
        recording = await load(self._store, recording_id)
        ensure_downloadable(recording)
        expires_s = expires_s or self.link_expiry_s
        expires_at = self._clock() + timedelta(seconds=expires_s)
        if recording.kind == RecordingKind.FILE and recording.storage == StorageKind.S3:
            store = self._storage.s3()
            url = await in_thread(store.presign_get, recording.bucket, recording.key, expires_s,
                                  filename=posixpath.basename(recording.key))
            return DownloadLink(url, expires_at)
        purpose = "playlist" if recording.kind == RecordingKind.HLS else "content"
        return DownloadLink(self._signed_url(recording.id, purpose, int(expires_at.timestamp())), expires_at)

    def _signed_url(self, recording_id: str, purpose: str, expires: int, key: str = "") -> str:
        suffix = "playlist.m3u8" if purpose == "playlist" else "content"
        params = {"expires": expires, "sig": link_signature(self._link_key, recording_id, purpose + key, expires)}
        if key:
            params["key"] = key
        return f"{self._public_url}/v1/recordings/{quote(recording_id)}/{suffix}?{urlencode(params)}"

    def check_signed(self, recording_id: str, purpose: str, expires: int, sig: str, key: str = "") -> None:
        if not link_valid(self._link_key, recording_id, purpose + key, expires, sig, self._clock()):
            raise NotFound("this link is invalid or has expired")

    async def playlist(self, recording_id: str, expires: int, sig: str) -> str:
        """The HLS playlist with every segment link signed until the playlist link expires."""
        self.check_signed(recording_id, "playlist", expires, sig)
        recording = await load(self._store, recording_id)
        remaining = max(1, expires - int(self._clock().timestamp()))
        return await self._playlist(recording, remaining,
                                    lambda key: self._signed_url(recording.id, "content", expires, key))

    async def playlist_for(self, recording_id: str, segment_link: Callable[[str], str]) -> str:
        """The HLS playlist for a caller already allowed to read recordings (a signed-in person): segments on
        the local volume through `segment_link(key)`, those in S3 presigned for `link_expiry_s`."""
        return await self._playlist(await load(self._store, recording_id), self.link_expiry_s, segment_link)

    async def _playlist(self, recording: Recording, expires_s: int, local_link: Callable[[str], str]) -> str:
        ensure_downloadable(recording)
        if recording.kind != RecordingKind.HLS:
            raise NotFound(f"recording {recording.id} is not an HLS playlist")
        store = self._storage.of(recording)
        text = await in_thread(store.read_text, recording.bucket, recording.key)
        if text is None:
            raise StorageUnavailable(f"{describe_object(recording)} could not be read")
        if recording.storage == StorageKind.S3:
            s3 = self._storage.s3()
            return rewrite_playlist(recording.key, text, lambda key: s3.presign_get(recording.bucket, key, expires_s))
        return rewrite_playlist(recording.key, text, local_link)

    async def media(self, recording_id: str, key: str = "") -> LocalFile | DownloadLink:
        """For a caller already allowed to read recordings (a signed-in person): the recording's file, or with
        `key` one segment its playlist names, as a local file to stream or a presigned link to an S3 object."""
        recording = await load(self._store, recording_id)
        ensure_downloadable(recording)
        if key and key != recording.key:
            store = self._storage.of(recording)
            text = await in_thread(store.read_text, recording.bucket, recording.key) \
                if recording.kind == RecordingKind.HLS else None
            if key not in playlist_segments(recording.key, text or ""):
                raise NotFound(f"recording {recording.id} has no segment {key!r}")
        path_key = key or recording.key
        if recording.storage == StorageKind.S3:
            url = await in_thread(self._storage.s3().presign_get, recording.bucket, path_key, self.link_expiry_s,
                                  filename=posixpath.basename(path_key))
            return DownloadLink(url, self._clock() + timedelta(seconds=self.link_expiry_s))
        local = self._storage.local
        path = await in_thread(local.file, path_key) if local is not None else None
        if path is None:
            raise NotFound(f"recording {recording.id}: the file is no longer on the volume")
        return LocalFile(path, content_type_for(path_key))

    async def local_file(self, recording_id: str, expires: int, sig: str, key: str = "") -> LocalFile:
        """The file (the recording, or one HLS segment of it with `key`) a signed local-content link reads."""
        self.check_signed(recording_id, "content", expires, sig, key)
        recording = await load(self._store, recording_id)
        ensure_downloadable(recording)
        local = self._storage.local
        if recording.storage != StorageKind.LOCAL or local is None:
            raise NotFound(f"recording {recording_id} is not on the local volume")
        path_key = key or recording.key
        path = await in_thread(local.file, path_key)
        if path is None:
            raise NotFound(f"recording {recording.id}: the file is no longer on the volume")
        return LocalFile(path, content_type_for(path_key))
