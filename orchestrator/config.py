"""Settings from the environment: LiveKit's own variable names, ORCHESTRATOR_* for the rest. No I/O at import."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SANDBOX_API_KEY = "devkey"
SANDBOX_API_SECRET = "sandbox-secret-not-for-production-use"  # noqa: S105 - the sandbox's own key


class Settings(BaseSettings):
    """Every setting of the service; secrets are SecretStr so they never print."""

    model_config = SettingsConfigDict(env_prefix="ORCHESTRATOR_", extra="ignore", populate_by_name=True)

    livekit_url: str | None = Field(None, validation_alias=AliasChoices("LIVEKIT_URL", "livekit_url"))
    livekit_api_key: str | None = Field(
        None, validation_alias=AliasChoices("LIVEKIT_API_KEY", "livekit_api_key"))
    livekit_api_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("LIVEKIT_API_SECRET", "livekit_api_secret"))

    data_dir: Path = Path("data")
    database_url: str | None = None
    api_token: SecretStr | None = None
    public_url: str = "http://127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)

    reconcile_interval_s: float = Field(30.0, gt=0)
    start_deadline_s: float = Field(120.0, gt=0)
    livekit_timeout_s: float = Field(10.0, gt=0)
    livekit_start_timeout_s: float = Field(35.0, gt=0)
    # Connections to LiveKit kept open ahead of need, so the start calls of a burst of rooms do not each open
    # one (over TLS in production, a handshake each). 0 keeps only what recent calls left open.
    livekit_warm_connections: int = Field(100, ge=0, le=512)
    start_attempts: int = Field(3, ge=1, le=10)
    retry_backoff_s: float = Field(1.0, ge=0)
    webhook_max_bytes: int = Field(1_048_576, gt=0)

    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = Field(7880, ge=0, le=65535)

    s3_bucket: str | None = None
    s3_region: str = ""
    s3_endpoint: str = ""
    s3_access_key: SecretStr | None = None
    s3_secret: SecretStr | None = None
    s3_force_path_style: bool = False

    recordings_dir: Path | None = None  # a volume shared with the egress workers (see local_recordings_dir)
    recordings_link_expiry_s: int = Field(3600, ge=1, le=7 * 24 * 3600)
    recordings_verify_interval_s: float = Field(10.0, gt=0)
    recordings_retention_days: float | None = Field(None, ge=0)
    recordings_retention_interval_s: float = Field(3600.0, gt=0)
    callback_urls: str = ""  # comma-separated http(s) URLs that receive every event
    callback_secret: SecretStr | None = None
    callback_timeout_s: float = Field(10.0, gt=0)
    callback_backoff_s: float = Field(1.0, gt=0)
    callback_window_s: float = Field(86400.0, gt=0)
    callback_poll_interval_s: float = Field(1.0, gt=0)

    log_level: str = "INFO"

    # Automatic recording
    auto_record: str = Field("off", pattern="^(off|all)$")  # all: every room as a composite, no rule needed
    autorecord_sweep_s: float = Field(10.0, gt=0)  # ListRooms recovery, start retries, rollover checks
    recording_cap_s: float = Field(10_800.0, gt=0)  # a composite part never runs longer (LiveKit Cloud: 3 h)
    recording_rollover_margin_s: float = Field(60.0, ge=0)  # the next part starts this long before the cap
    autorecord_retry_s: float = Field(5.0, gt=0)  # first retry of a failed automatic start, doubling
    autorecord_max_attempts: int = Field(5, ge=1, le=50)

    # Broadcasts
    broadcast_cap_s: int = Field(43_200, gt=0)  # no broadcast lasts longer (default 12 h)
    misfire_grace_s: float = Field(300.0, ge=0)  # late but within this: start; beyond: missed
    heal_attempts: int = Field(5, ge=0, le=50)  # replacement egresses per run
    heal_base_s: float = Field(1.0, ge=0)  # first replacement after this, doubling
    rollover_after_s: float = Field(42_300.0, gt=0)  # new egress before LiveKit Cloud's 12 h stream limit
    preflight_lead_s: float = Field(180.0, ge=0)  # automatic preflight this long before each start
    broadcast_sweep_s: float = Field(2.0, gt=0)  # how often the database is checked for due work
    instance_id: str | None = None  # names this replica in claims; default host-pid

    # Console sessions: signed out after this long without a request, and after the absolute limit in any case
    session_idle_s: float = Field(12 * 3600.0, gt=0)
    session_absolute_s: float = Field(7 * 24 * 3600.0, gt=0)

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("callback_urls")
    @classmethod
    def _http_callbacks(cls, value: str) -> str:
        for url in (u.strip() for u in value.split(",") if u.strip()):
            if not url.lower().startswith(("http://", "https://")):
                raise ValueError("callback URLs must be http:// or https:// URLs")
        return value

    @property
    def callback_url_list(self) -> list[str]:
        return [u.strip() for u in self.callback_urls.split(",") if u.strip()]

    @model_validator(mode="after")
    def _public_url_follows_the_listen_address(self) -> Settings:
        if "public_url" not in self.model_fields_set and (self.host, self.port) != ("127.0.0.1", 8080):
            host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
            self.public_url = f"http://{host}:{self.port}"
        return self

    @property
    def sandbox(self) -> bool:
        """No LIVEKIT_URL: the service runs against its built-in sandbox LiveKit."""
        return not self.livekit_url

    @property
    def database_url_resolved(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'orchestrator.db').resolve()}"

    @property
    def local_recordings_dir(self) -> Path | None:
        """Where local recordings are: ORCHESTRATOR_RECORDINGS_DIR; in sandbox mode without S3, the embedded
        default `<data_dir>/recordings` (the sandbox's egress worker writes there); else none."""
        if self.recordings_dir is not None:
            return self.recordings_dir
        if self.sandbox and not self.s3_bucket:
            return self.data_dir / "recordings"
        return None

    @property
    def can_record(self) -> bool:
        """Somewhere to keep recordings: S3, or a local directory (the embedded one in sandbox mode). Without
        it, file, HLS and image outputs are refused."""
        return bool(self.s3_bucket) or self.local_recordings_dir is not None

    def refusal(self) -> str | None:
        """Why the service must not start with these settings, naming what to set; None when it may. `serve`
        says it before it listens, and `bootstrap.build` refuses to build."""
        if self.auto_record == "all" and not self.can_record:
            return ("ORCHESTRATOR_AUTO_RECORD=all records every room to a file, but LIVEKIT_URL is set and no "
                    "storage for recordings is configured: set ORCHESTRATOR_S3_BUCKET (with ORCHESTRATOR_S3_REGION, "
                    "_ENDPOINT, _ACCESS_KEY, _SECRET as needed) or ORCHESTRATOR_RECORDINGS_DIR (a directory shared "
                    "with LiveKit's egress workers), or set ORCHESTRATOR_AUTO_RECORD=off")
        return None

    @property
    def api_token_file(self) -> Path:
        return self.data_dir / "api-token"
