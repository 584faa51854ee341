"""Builds everything from Settings in one place; the app's lifespan and the CLI both use it."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from orchestrator.adapters.livekit import LiveKitEgressGateway
from orchestrator.adapters.livekit_webhooks import LiveKitWebhookVerifier
from orchestrator.adapters.sql.egress_repository import SqlEgressRepository
from orchestrator.adapters.sql.engine import WalCheckpointer, build_engine, migrate, start_checkpointer
from orchestrator.config import SANDBOX_API_KEY, SANDBOX_API_SECRET, Settings
from orchestrator.domain.requests import S3Target
from orchestrator.logs import SECRETS
from orchestrator.metrics import Metrics
from orchestrator.services.changes import ChangeFeed, EgressChange
from orchestrator.services.egresses import EgressLedgerService
from orchestrator.services.reconcile import Reconciler
from orchestrator.services.webhooks import WebhookBatcher, WebhookIngestService

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
    engine: Engine
    repo: SqlEgressRepository
    gateway: LiveKitEgressGateway
    livekit: LiveKitTarget
    verifier: LiveKitWebhookVerifier
    metrics: Metrics
    egresses: EgressLedgerService
    webhooks: WebhookIngestService
    reconciler: Reconciler
    api_token: str
    storage: S3Target | None
    webhook_batcher: WebhookBatcher
    changes: ChangeFeed
    checkpointer: WalCheckpointer | None = None

    async def aclose(self) -> None:
        await self.webhook_batcher.aclose()
        await self.gateway.aclose()
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()


def build(settings: Settings, *, migrate_db: bool = True) -> Container:
    engine = build_engine(settings.database_url_resolved)
    if migrate_db:
        migrate(engine)
    changes = ChangeFeed()
    repo = SqlEgressRepository(
        engine, listener=lambda a: changes.egress_changed(EgressChange(a.record, a.status_before))
        if a.record is not None else None)
    metrics = Metrics()
    metrics.watch_ledger(repo.count_by_status)
    target = livekit_target(settings)
    storage = storage_target(settings)
    if storage is None and target.sandbox:
        storage = S3Target(bucket="sandbox-recordings", region="us-east-1")  # nothing is really uploaded
    api_token = resolve_api_token(settings)
    SECRETS.add(target.api_secret, api_token, storage.secret if storage else None,
                storage.access_key if storage else None)
    gateway = LiveKitEgressGateway(
        target.url, target.api_key, target.api_secret, timeout_s=settings.livekit_timeout_s,
        start_timeout_s=settings.livekit_start_timeout_s, attempts=settings.start_attempts,
        backoff_s=settings.retry_backoff_s, metrics=metrics)
    egresses = EgressLedgerService(repo, gateway, utcnow, start_attempts=settings.start_attempts,
                                   retry_backoff_s=settings.retry_backoff_s)
    webhooks = WebhookIngestService(repo, utcnow, changes)
    return Container(
        settings=settings, engine=engine, repo=repo, gateway=gateway, livekit=target,
        verifier=LiveKitWebhookVerifier(target.api_key, target.api_secret), metrics=metrics,
        egresses=egresses, webhooks=webhooks, webhook_batcher=WebhookBatcher(webhooks), changes=changes,
        reconciler=Reconciler(repo, gateway, egresses, utcnow,
                              start_deadline=timedelta(seconds=settings.start_deadline_s), metrics=metrics),
        api_token=api_token, storage=storage, checkpointer=start_checkpointer(engine),
    )
