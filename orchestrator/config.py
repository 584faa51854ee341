"""Settings from the environment: LiveKit's own variable names, ORCHESTRATOR_* for the rest. No I/O at import."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
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

    log_level: str = "INFO"

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def sandbox(self) -> bool:
        """No LIVEKIT_URL: the service runs against its built-in sandbox LiveKit."""
        return not self.livekit_url

    @property
    def database_url_resolved(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'orchestrator.db').resolve()}"

    @property
    def api_token_file(self) -> Path:
        return self.data_dir / "api-token"
