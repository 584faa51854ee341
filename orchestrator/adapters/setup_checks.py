"""`orchestrator doctor`'s probes of the outside systems: each answers a Check and leaves nothing behind."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from botocore.client import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError
from jwt.warnings import InsecureKeyLengthWarning
from livekit import api
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from orchestrator.domain.callbacks import shown_url
from orchestrator.domain.requests import S3Target

from .sql.engine import MIGRATIONS, normalise_url

TIMEOUT_S = 5.0
SKEW_LIMIT_S = 5.0  # LiveKit's tokens carry nbf/exp in whole seconds; beyond this, signatures start failing


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def check_database(url: str) -> Check:
    """Reachable and at the newest schema revision; a SQLite file that does not exist is not created."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(str(parsed.database))
        if not path.is_file():
            return Check("database", False, f"no database at {path} (run `orchestrator serve` once, or set "
                                            "ORCHESTRATOR_DATA_DIR / ORCHESTRATOR_DATABASE_URL)")
        parsed = parsed.set(database=f"file:{path}?mode=rw", query={"uri": "true"})
    engine = create_engine(parsed, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except Exception as exc:
        return Check("database", False, f"{parsed.get_backend_name()}: {type(exc).__name__}: "
                                        f"{str(exc).splitlines()[0][:200]}")
    finally:
        engine.dispose()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    # Applied: the current heads and everything under them, dependencies included (a head another revision
    # depends on, as 0011 on 0003 and 0007, is not among the database's current heads yet is applied).
    applied = {r.revision for r in script.iterate_revisions(tuple(current), "base")} if current else set()
    if missing_heads := set(script.get_heads()) - applied:
        missing = ", ".join(sorted(missing_heads))
        return Check("database", False, f"{parsed.get_backend_name()} answers but is not migrated (missing "
                                        f"{missing}); `orchestrator serve` migrates it on start")
    return Check("database", True, f"{parsed.get_backend_name()} answers; schema at the newest revision")


def livekit_clock_skew(url: str) -> float | None:
    """Seconds LiveKit's clock is ahead of ours (negative: behind), from an HTTP answer's Date header."""
    http_url = url.replace("wss://", "https://", 1).replace("ws://", "http://", 1)
    try:
        before = time.time()
        response = httpx.get(http_url, timeout=TIMEOUT_S)
        after = time.time()
    except httpx.HTTPError:
        return None
    date = response.headers.get("date")
    if not date:
        return None
    theirs = email.utils.parsedate_to_datetime(date).timestamp()
    # The Date header has whole seconds: compare with the middle of the request, rounded the same way.
    return theirs - int((before + after) / 2)


def check_storage(target: S3Target) -> Check:
    """The bucket exists and a small object can be written, read back and deleted."""
    name = f"S3 bucket {target.bucket!r}"
    kwargs: dict[str, Any] = {"config": BotoConfig(
        connect_timeout=TIMEOUT_S, read_timeout=TIMEOUT_S, retries={"max_attempts": 1},
        s3={"addressing_style": "path" if target.force_path_style else "auto"}, signature_version="s3v4")}
    if target.region:
        kwargs["region_name"] = target.region
    if target.endpoint:
        kwargs["endpoint_url"] = target.endpoint
    if target.access_key and target.secret:
        kwargs.update(aws_access_key_id=target.access_key, aws_secret_access_key=target.secret)
    client: Any = boto3.session.Session().client("s3", **kwargs)
    key = f"orchestrator-doctor/{uuid.uuid4().hex}.txt"
    payload = b"orchestrator doctor: safe to delete\n"
    step = "HeadBucket"
    try:
        client.head_bucket(Bucket=target.bucket)
        step = "PutObject"
        client.put_object(Bucket=target.bucket, Key=key, Body=payload)
        step = "GetObject"
        read = client.get_object(Bucket=target.bucket, Key=key)["Body"].read()
        step = "DeleteObject"
        client.delete_object(Bucket=target.bucket, Key=key)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "?"))
        if step == "HeadBucket" and code in ("404", "NoSuchBucket", "NotFound"):
            return Check("storage", False, f"{name} does not exist")
        return Check("storage", False, f"{name}: {step} refused ({code})")
    except BotoCoreError as exc:
        return Check("storage", False, f"{name}: {step} failed ({type(exc).__name__})")
    if read != payload:
        return Check("storage", False, f"{name}: the object read back differs from the one written")
    return Check("storage", True, f"{name}: a test object was written, read back and deleted")


def check_webhook(public_url: str, api_key: str, api_secret: str) -> Check:
    """A signed `ingress_ended` test event (stored, ignored by every use case) reaches the service."""
    url = f"{public_url}/webhooks/livekit"
    body = json.dumps({"event": "ingress_ended", "id": f"doctor-{uuid.uuid4().hex}",
                       "createdAt": str(int(time.time()))}).encode()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)  # short dev secrets are the user's choice
        token = api.AccessToken(api_key, api_secret).with_sha256(_sha256_b64(body)).to_jwt()
    try:
        response = httpx.post(url, content=body, headers={"Authorization": token,
                                                          "Content-Type": "application/webhook+json"},
                              timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        return Check("webhooks", False, f"{url} did not answer ({type(exc).__name__}); is ORCHESTRATOR_PUBLIC_URL "
                                        "where the service listens?")
    if response.status_code == 200:
        return Check("webhooks", True, f"{url} received a signed test event")
    hint = " (the service has other LiveKit credentials)" if response.status_code == 401 else ""
    return Check("webhooks", False, f"{url} answered {response.status_code}{hint}")


def check_callback_url(url: str) -> Check:
    """The callback receiver answers (a HEAD request: nothing is delivered to it)."""
    try:
        response = httpx.head(url, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        return Check("callbacks", False, f"{shown_url(url)} did not answer ({type(exc).__name__})")
    if response.status_code >= 500 or response.status_code == 404:
        return Check("callbacks", False, f"{shown_url(url)} answered {response.status_code}")
    return Check("callbacks", True, f"{shown_url(url)} answers")


def _sha256_b64(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode()
