"""Builds everything from Settings in one place; the app's lifespan and the CLI both use it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from orchestrator.adapters import setup_checks
from orchestrator.adapters.livekit import LiveKitEgressGateway
from orchestrator.adapters.livekit_webhooks import LiveKitWebhookVerifier
from orchestrator.adapters.rtmp_probe import RtmpProbe
from orchestrator.adapters.sql.broadcasts import SqlBroadcastStore
from orchestrator.adapters.sql.database import SqlDatabase
from orchestrator.adapters.sql.intake_store import SqlWebhookIntakeStore
from orchestrator.adapters.sql.ledger import SqlEgressLedger
from orchestrator.adapters.sql.rules import SqlRuleStore
from orchestrator.adapters.sql.sessions import SqlSessionStore
from orchestrator.config import SANDBOX_API_KEY, SANDBOX_API_SECRET, Settings
from orchestrator.domain.activity import ChangeKind
from orchestrator.domain.broadcasts import RunStatus
from orchestrator.domain.identity import SessionPolicy
from orchestrator.domain.recordings import RecordingStatus
from orchestrator.domain.requests import S3Target
from orchestrator.local_sandbox import LocalSandbox
from orchestrator.logs import SECRETS
from orchestrator.metrics import Metrics
from orchestrator.sandbox_restart import forget_previous_sandbox
from orchestrator.scheduler import AUTORECORD_SWEEP, LIVEKIT_WARM, ApsTimer, add_service_jobs
from orchestrator.services.autorecord import AutoRecorder, AutoRecordSettings
from orchestrator.services.broadcasts import BroadcastPolicy, BroadcastService
from orchestrator.services.callbacks import CallbackService
from orchestrator.services.changes import ChangeFeed
from orchestrator.services.egresses import EgressLedgerService
from orchestrator.services.events import EventFeed
from orchestrator.services.identity import IdentityService
from orchestrator.services.intake import WebhookIntake
from orchestrator.services.overview import Overview
from orchestrator.services.ports import EgressLedger
from orchestrator.services.reconcile import Reconciler
from orchestrator.services.recordings import RecordingService

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LiveKitTarget:
    url: str
    api_key: str
    api_secret: str
    sandbox: bool


def livekit_target(settings: Settings) -> LiveKitTarget:
    if settings.livekit_url:
        if not settings.livekit_api_key or not settings.livekit_api_secret:
            raise SystemExit("LIVEKIT_URL is set, so LIVEKIT_API_KEY and LIVEKIT_API_SECRET must be set too")
        return LiveKitTarget(settings.livekit_url, settings.livekit_api_key,
                             settings.livekit_api_secret.get_secret_value(), sandbox=False)
    key = settings.livekit_api_key or SANDBOX_API_KEY
    secret = settings.livekit_api_secret.get_secret_value() if settings.livekit_api_secret else SANDBOX_API_SECRET
    return LiveKitTarget(f"http://{settings.sandbox_host}:{settings.sandbox_port}", key, secret, sandbox=True)


# `orchestrator doctor`'s probes: database, LiveKit's clock, storage, webhooks, callback URLs (nothing left behind)
doctor_probes = setup_checks


async def check_livekit(target: LiveKitTarget) -> None:
    """`orchestrator doctor`: LiveKit answers and the credentials may record (raises a LiveKitError if not)."""
    gateway = LiveKitEgressGateway(target.url, target.api_key, target.api_secret, timeout_s=5, attempts=1)
    try:
        await gateway.check_access()
    finally:
        await gateway.aclose()


def resolve_api_token(settings: Settings) -> str:
    """ORCHESTRATOR_API_TOKEN, else a token generated once and kept (mode 0600) in the data directory."""
    if settings.api_token:
        return settings.api_token.get_secret_value()
    path: Path = settings.api_token_file
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    log.info("generated an API token in %s (set ORCHESTRATOR_API_TOKEN to choose your own)", path)
    return token


def storage_target(settings: Settings) -> S3Target | None:
    if not settings.s3_bucket:
        return None
    return S3Target(
        bucket=settings.s3_bucket, region=settings.s3_region, endpoint=settings.s3_endpoint,
        access_key=settings.s3_access_key.get_secret_value() if settings.s3_access_key else "",
        secret=settings.s3_secret.get_secret_value() if settings.s3_secret else "",
        force_path_style=settings.s3_force_path_style,
    )


@dataclass
class Container:
    """Everything one service instance runs on."""

    settings: Settings
    db: SqlDatabase
    ledger: EgressLedger
    gateway: LiveKitEgressGateway
    livekit: LiveKitTarget
    verifier: LiveKitWebhookVerifier
    metrics: Metrics
    egresses: EgressLedgerService
    reconciler: Reconciler
    api_token: str
    storage: S3Target | None
    intake: WebhookIntake
    changes: ChangeFeed
    recordings: RecordingService
    callbacks: CallbackService
    scheduler: AsyncIOScheduler
    broadcasts: BroadcastService
    autorecord: AutoRecorder
    identity: IdentityService  # people, API keys, console sessions
    overview: Overview  # the console's Now page
    events: EventFeed  # what changed, for GET /v1/events (polls the database while someone listens)
    sandbox: LocalSandbox | None = None  # the sandbox LiveKit in this process (no LIVEKIT_URL)
    _delivery: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _sandbox_ready: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    async def start(self) -> None:
        """Run what build() made: the change feed on this loop, the sandbox LiveKit if any, the scheduler's
        jobs, callback delivery, and the broadcast timers rebuilt from the database."""
        self.changes.bind(asyncio.get_running_loop())
        if self.sandbox is not None:
            await forget_previous_sandbox(self.ledger, self.egresses, self.autorecord)
            await self.sandbox.start()
            # The first sweep waits for the sandbox's first webhooks, which wait until this service listens; the
            # first connections opened ahead of need wait for the sandbox to listen (it binds in the background).
            self.scheduler.pause_job(AUTORECORD_SWEEP)
            self.scheduler.pause_job(LIVEKIT_WARM)
            self._sandbox_ready = asyncio.create_task(self._when_sandbox_ready(self.sandbox), name="sandbox-ready")
        self.scheduler.start()
        self._delivery = asyncio.create_task(self.callbacks.run(), name="callback-delivery")
        await self.broadcasts.rebuild()

    async def _when_sandbox_ready(self, sandbox: LocalSandbox) -> None:
        try:
            await sandbox.ready()
        except TimeoutError:
            log.warning("the sandbox LiveKit's first webhooks were not delivered within 30 s: is %s reachable?",
                        self.settings.public_url)
        finally:
            self.scheduler.modify_job(AUTORECORD_SWEEP, next_run_time=utcnow())
            self.scheduler.modify_job(LIVEKIT_WARM, next_run_time=utcnow())

    async def keep_warm(self) -> None:
        """Connections to LiveKit open ahead of a burst of start calls (ORCHESTRATOR_LIVEKIT_WARM_CONNECTIONS)."""
        await self.gateway.keep_warm(self.settings.livekit_warm_connections)

    async def aclose(self) -> None:
        """Stop what start() started, then close every adapter; safe after a start that failed half-way."""
        await self.events.aclose()  # event streams end first: nothing reads the database after it is closed
        if self._sandbox_ready is not None:
            self._sandbox_ready.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sandbox_ready
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self._delivery is not None:
            self._delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery
        await self.intake.aclose()
        await self.autorecord.aclose()
        await self.egresses.aclose()
        await self.callbacks.aclose()
        await self.gateway.aclose()
        self.db.dispose()
        if self.sandbox is not None:
            await self.sandbox.aclose()


def build(settings: Settings, *, migrate_db: bool = True) -> Container:
    if (refusal := settings.refusal()) is not None:
        raise SystemExit(refusal)  # `serve` says it before it listens; here for every other way in
    db = SqlDatabase(settings.database_url_resolved)
    if migrate_db:
        db.migrate()
    changes = ChangeFeed()
    ledger = SqlEgressLedger(db)  # the services publish their own changes to `changes`
    metrics = Metrics()
    metrics.watch_ledger(ledger.count_by_status)
    target = livekit_target(settings)
    storage = storage_target(settings)
    local_dir = settings.local_recordings_dir  # no S3 in sandbox mode: the embedded storage, <data_dir>/recordings
    if local_dir is not None:
        local_dir.mkdir(parents=True, exist_ok=True)
    can_record = settings.can_record  # else file, HLS and image outputs are refused
    api_token = resolve_api_token(settings)
    SECRETS.add(target.api_secret, api_token, storage.secret if storage else None,
                storage.access_key if storage else None)
    gateway = LiveKitEgressGateway(
        target.url, target.api_key, target.api_secret, timeout_s=settings.livekit_timeout_s,
        start_timeout_s=settings.livekit_start_timeout_s, attempts=settings.start_attempts,
        backoff_s=settings.retry_backoff_s, metrics=metrics,
        on_start_written=metrics.autorecord_latency.start_written)
    egresses = EgressLedgerService(ledger, gateway, utcnow, changes, start_attempts=settings.start_attempts,
                                   retry_backoff_s=settings.retry_backoff_s, can_record=can_record)
    scheduler = AsyncIOScheduler(timezone=UTC)
    recordings, callbacks = build_recordings(settings, db, ledger, storage, api_token, metrics)
    broadcast_store = SqlBroadcastStore(db)
    metrics.watch_statuses("orchestrator_broadcast_runs", "Broadcast runs by status",
                           [s.value for s in RunStatus], broadcast_store.count_runs_by_status)
    broadcasts = BroadcastService(
        broadcast_store, ledger, egresses, gateway, utcnow, ApsTimer(scheduler), RtmpProbe(),
        instance=settings.instance_id or f"{socket.gethostname()}-{os.getpid()}",
        public_url=settings.public_url, storage=storage, layout_check=check_layout_page,
        announce=lambda kind, subject, data, urls: callbacks.enqueue(kind, subject, data, extra_urls=urls),
        can_record=can_record, policy=BroadcastPolicy(
            cap=timedelta(seconds=settings.broadcast_cap_s),
            misfire_grace=timedelta(seconds=settings.misfire_grace_s), heal_attempts=settings.heal_attempts,
            heal_base_s=settings.heal_base_s, rollover_after=timedelta(seconds=settings.rollover_after_s),
            preflight_lead=timedelta(seconds=settings.preflight_lead_s)))
    changes.on_egress_change(broadcasts.on_egress_change)
    changes.on_notice(broadcasts.on_room_event)
    changes.on_egress_change(recordings.on_egress_change)
    autorecord = build_autorecord(settings, db, ledger, egresses, gateway, storage, can_record)
    changes.on_notice(autorecord.on_notice)
    changes.on_egress_change(autorecord.on_egress_change)
    # room_started: sessions, claims and ledger rows planned by auto-record, committed with the webhooks
    intake = WebhookIntake(SqlWebhookIntakeStore(db), changes, utcnow, autorecord.intake)
    db.start_checkpointer()  # SQLite's write-ahead log copied back from a thread of its own (until aclose)
    container = Container(
        settings=settings, db=db, ledger=ledger, gateway=gateway, livekit=target,
        verifier=LiveKitWebhookVerifier(target.api_key, target.api_secret), metrics=metrics,
        egresses=egresses, intake=intake, changes=changes, autorecord=autorecord,
        identity=build_identity(settings, db),
        overview=Overview(broadcast_store, ledger, utcnow),
        events=build_events(db, changes, ledger, broadcast_store),
        reconciler=Reconciler(ledger, gateway, egresses, utcnow,
                              start_deadline=timedelta(seconds=settings.start_deadline_s),
                              on_run=metrics.reconcile_runs.inc,
                              on_repair=lambda kind: metrics.reconcile_repairs.labels(kind).inc()),
        api_token=api_token, storage=storage,
        scheduler=scheduler, broadcasts=broadcasts,
        recordings=recordings, callbacks=callbacks,
        sandbox=LocalSandbox(target.api_key, target.api_secret, settings.sandbox_host, settings.sandbox_port,
                             f"{settings.public_url}/webhooks/livekit",
                             files_dir=local_dir if storage is None else None,
                             service=(settings.host, settings.port))
        if target.sandbox and settings.sandbox_port else None,
    )
    add_service_jobs(scheduler, settings, reconciler=container.reconciler, broadcasts=broadcasts,
                     recordings=recordings, autorecord=autorecord, keep_warm=container.keep_warm)
    return container


def build_identity(settings: Settings, db: SqlDatabase) -> IdentityService:
    """People, API keys and console sessions (in the shared database, so every replica sees them)."""
    from orchestrator.adapters.sql.identity import SqlIdentityStore

    return IdentityService(SqlIdentityStore(db), utcnow, sessions=SessionPolicy(
        idle=timedelta(seconds=settings.session_idle_s), absolute=timedelta(seconds=settings.session_absolute_s)))


async def check_layout_page(url: str) -> tuple[bool, str]:
    """Preflight: the layout page LiveKit's egress will open answers (with dummy room parameters)."""
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(url, params={"url": "wss://preflight.invalid", "token": "preflight"})
    except httpx.HTTPError as exc:
        return False, f"the layout page did not answer: {type(exc).__name__}"
    if response.status_code != 200 or 'class="error"' in response.text:
        return False, f"the layout page answered {response.status_code} with an error"
    return True, f"the layout page answered in {response.elapsed.total_seconds() * 1000:.0f} ms"


def build_recordings(
    settings: Settings, db: SqlDatabase, ledger: EgressLedger, storage: S3Target | None, api_token: str,
    metrics: Metrics,
) -> tuple[RecordingService, CallbackService]:
    """The recordings catalog and the callback outbox; S3 credentials from settings or boto3's own chain."""
    from orchestrator.adapters.callbacks import HttpCallbackSender
    from orchestrator.adapters.local_store import LocalObjectStore
    from orchestrator.adapters.s3 import S3ObjectStore
    from orchestrator.adapters.sql.callback_outbox import SqlCallbackOutbox
    from orchestrator.adapters.sql.recordings import SqlRecordingStore

    outbox = SqlCallbackOutbox(db)
    catalog = SqlRecordingStore(db, outbox)
    metrics.watch_statuses("orchestrator_recordings", "Recordings in the catalog by status",
                           [s.value for s in RecordingStatus], catalog.count_by_status)
    secret = settings.callback_secret.get_secret_value() if settings.callback_secret else ""
    SECRETS.add(secret)
    callbacks = CallbackService(
        outbox, HttpCallbackSender(settings.callback_timeout_s), utcnow, urls=settings.callback_url_list,
        secret=secret, backoff_s=settings.callback_backoff_s, window=timedelta(seconds=settings.callback_window_s),
        poll_interval_s=settings.callback_poll_interval_s)
    s3_target = storage_target(settings)
    link_key = hashlib.sha256(b"recording-links:" + api_token.encode()).digest()
    recordings = RecordingService(
        catalog, ledger, callbacks, utcnow,
        s3=(lambda: S3ObjectStore(s3_target)) if s3_target is not None else None,
        local=LocalObjectStore(settings.local_recordings_dir) if settings.local_recordings_dir else None,
        default_bucket=storage.bucket if storage else "", public_url=settings.public_url, link_key=link_key,
        link_expiry_s=settings.recordings_link_expiry_s, retention_days=settings.recordings_retention_days)
    return recordings, callbacks


def build_events(db: SqlDatabase, changes: ChangeFeed, ledger: SqlEgressLedger,
                 broadcast_store: SqlBroadcastStore) -> EventFeed:
    """The event stream's feed: every aggregate's "changed since" read; this process's changes wake it."""
    from orchestrator.adapters.sql.callback_outbox import SqlCallbackOutbox
    from orchestrator.adapters.sql.recordings import SqlRecordingStore

    feed = EventFeed({
        ChangeKind.EGRESS: ledger.changed_since,
        ChangeKind.RUN: broadcast_store.runs_changed_since,
        ChangeKind.BROADCAST: broadcast_store.broadcasts_changed_since,
        ChangeKind.RECORDING: SqlRecordingStore(db, SqlCallbackOutbox(db)).changed_since,
        ChangeKind.SESSION: SqlSessionStore(db).changed_since,
    }, utcnow)

    async def wake(_: object) -> None:
        feed.wake()

    changes.on_egress_change(wake)
    changes.on_notice(wake)
    return feed


def build_autorecord(settings: Settings, db: SqlDatabase, ledger: SqlEgressLedger, egresses: EgressLedgerService,
                     gateway: LiveKitEgressGateway, storage: S3Target | None, can_record: bool) -> AutoRecorder:
    """Automatic recording: rules, room sessions and claims."""
    s = settings
    lease = s.livekit_start_timeout_s * s.start_attempts + 60
    return AutoRecorder(
        SqlRuleStore(db), SqlSessionStore(db), ledger, egresses, gateway, utcnow,
        AutoRecordSettings(
            storage=storage, public_url=s.public_url, record_all=s.auto_record == "all",
            cap=timedelta(seconds=s.recording_cap_s), rollover_margin=timedelta(seconds=s.recording_rollover_margin_s),
            retry_base=timedelta(seconds=s.autorecord_retry_s), max_attempts=s.autorecord_max_attempts,
            lease=timedelta(seconds=lease), can_record=can_record))
