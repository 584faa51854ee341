"""The set-up checks `orchestrator doctor` prints and the console's Settings page shows: database, LiveKit and its
clock, storage, webhooks, callback URLs, ffmpeg. Each probe is real and leaves nothing behind; no detail names a
secret. Blocking (network calls, `asyncio.run` for LiveKit): call from a worker thread inside a running loop."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.config import Settings

if TYPE_CHECKING:
    from orchestrator.bootstrap import doctor_probes

SKEW_WARN_S, SKEW_FAIL_S = 2, 10  # the Date header has whole seconds; LiveKit's tokens tolerate a few


@dataclass(frozen=True)
class Finding:
    check: str
    status: str  # ok | warning | failed
    detail: str

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def findings(settings: Settings) -> list[Finding]:
    """The configuration check (what serve would refuse to start with), then every other check."""
    refusal = settings.refusal()
    return [Finding("configuration", "failed", refusal) if refusal else
            Finding("configuration", "ok", "loaded from the environment"), *run_checks(settings)]


def run_checks(settings: Settings) -> list[Finding]:
    """Every check, in the order a person would fix them."""
    from orchestrator.bootstrap import doctor_probes

    found = [_finding(doctor_probes.check_database(settings.database_url_resolved))]
    found += _livekit(settings)
    found.append(_storage(settings))
    found += _webhooks(settings)
    found += [_finding(doctor_probes.check_callback_url(url)) for url in settings.callback_url_list]
    if settings.sandbox:
        found.append(_ffmpeg())
    return found


def _finding(check: doctor_probes.Check) -> Finding:
    return Finding(check.name, "ok" if check.ok else "failed", check.detail)


def _livekit(settings: Settings) -> list[Finding]:
    from orchestrator.bootstrap import check_livekit, doctor_probes, livekit_target
    from orchestrator.domain.errors import LiveKitError

    try:
        target = livekit_target(settings)
    except SystemExit as exc:
        return [Finding("livekit", "failed", str(exc))]
    where = "sandbox LiveKit (no LIVEKIT_URL)" if target.sandbox else target.url
    try:
        asyncio.run(check_livekit(target))
    except LiveKitError as exc:
        hint = " (the sandbox runs inside `orchestrator serve`: is it running?)" if target.sandbox else ""
        return [Finding("livekit", "failed", f"{where}: {exc.message}{hint}")]
    found = [Finding("livekit", "ok", f"{where} answers; the credentials may record")]
    skew = doctor_probes.livekit_clock_skew(target.url)
    if skew is None:
        found.append(Finding("clock", "warning", "LiveKit's answer had no Date header to compare clocks with"))
    else:
        status = "failed" if abs(skew) >= SKEW_FAIL_S else "warning" if abs(skew) > SKEW_WARN_S else "ok"
        side = "ahead of" if skew > 0 else "behind"
        detail = "in step with LiveKit's (within a second)" if abs(skew) <= 1 else \
            f"LiveKit's clock is {abs(skew):.0f} s {side} this machine's"
        found.append(Finding("clock", status, detail if status == "ok" else f"{detail}: synchronise with NTP"))
    return found


def _storage(settings: Settings) -> Finding:
    from orchestrator.bootstrap import doctor_probes, storage_target

    target = storage_target(settings)
    if target is not None:
        return _finding(doctor_probes.check_storage(target))
    if settings.recordings_dir:
        return Finding("storage", "ok", f"local recordings in {settings.recordings_dir}")
    if settings.sandbox:
        return Finding("storage", "ok", "sandbox: recordings are simulated (set ORCHESTRATOR_S3_* for a real bucket)")
    return Finding("storage", "warning", "no ORCHESTRATOR_S3_BUCKET: file, HLS and image outputs are unavailable")


def _webhooks(settings: Settings) -> list[Finding]:
    from orchestrator.bootstrap import doctor_probes, livekit_target

    try:
        target = livekit_target(settings)
    except SystemExit:
        return []  # already reported under livekit
    return [_finding(doctor_probes.check_webhook(settings.public_url, target.api_key, target.api_secret))]


def _ffmpeg() -> Finding:
    from orchestrator.local_sandbox import sandbox_ffmpeg

    found = sandbox_ffmpeg()
    if found:
        return Finding("ffmpeg", "ok", f"{found}: the sandbox writes real test-pattern media")
    return Finding("ffmpeg", "warning", "not found: the sandbox's recordings and streams carry no real media "
                                        "(install ffmpeg, or pip install imageio-ffmpeg)")
