"""Settings from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.bootstrap import build
from orchestrator.cli import app
from orchestrator.config import Settings


def test_public_url_follows_the_listen_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRATOR_PORT", "9123")
    assert Settings().public_url == "http://127.0.0.1:9123"
    monkeypatch.setenv("ORCHESTRATOR_PUBLIC_URL", "https://rec.example.com/")
    assert Settings().public_url == "https://rec.example.com"


def test_secrets_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEKIT_API_SECRET", "lk-secret-value-123")
    monkeypatch.setenv("ORCHESTRATOR_S3_SECRET", "s3-secret-value-456")
    monkeypatch.setenv("ORCHESTRATOR_API_TOKEN", "api-token-value-789")
    settings = Settings()
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    for secret in ("lk-secret-value-123", "s3-secret-value-456", "api-token-value-789"):
        assert secret not in shown
    assert settings.livekit_api_secret is not None
    assert settings.livekit_api_secret.get_secret_value() == "lk-secret-value-123"
    assert settings.sandbox  # no LIVEKIT_URL


NO_STORAGE_LIVEKIT = {"LIVEKIT_URL": "wss://livekit.example.com", "LIVEKIT_API_KEY": "key",
                      "LIVEKIT_API_SECRET": "secret-0123456789", "ORCHESTRATOR_AUTO_RECORD": "all"}


def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> None:
    for name in ("ORCHESTRATOR_S3_BUCKET", "ORCHESTRATOR_RECORDINGS_DIR", "LIVEKIT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ORCHESTRATOR_DATA_DIR", str(tmp_path / "data"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_auto_record_all_against_livekit_without_storage_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    _clean_env(monkeypatch, tmp_path, **NO_STORAGE_LIVEKIT)
    refusal = Settings().refusal()
    assert refusal is not None and not Settings().can_record
    for name in ("ORCHESTRATOR_AUTO_RECORD", "ORCHESTRATOR_S3_BUCKET", "ORCHESTRATOR_RECORDINGS_DIR"):
        assert name in refusal
    with pytest.raises(SystemExit, match="ORCHESTRATOR_S3_BUCKET"):
        build(Settings())  # before anything is built: no database is made
    assert not (tmp_path / "data").exists()
    # storage of either kind, the sandbox's embedded storage, or no built-in rule: it may start
    for fix in ({"ORCHESTRATOR_S3_BUCKET": "recordings"}, {"ORCHESTRATOR_RECORDINGS_DIR": str(tmp_path / "rec")},
                {"ORCHESTRATOR_AUTO_RECORD": "off"}):
        assert Settings(**{k.removeprefix("ORCHESTRATOR_").lower(): v for k, v in fix.items()}).refusal() is None
    monkeypatch.delenv("LIVEKIT_URL")
    assert Settings().refusal() is None and Settings().can_record  # <data_dir>/recordings


def test_serve_says_why_it_refuses_and_exits_without_a_traceback(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    _clean_env(monkeypatch, tmp_path, **NO_STORAGE_LIVEKIT)
    result = CliRunner().invoke(app, ["serve", "--port", "0"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert "ORCHESTRATOR_AUTO_RECORD=all" in result.stderr and "ORCHESTRATOR_RECORDINGS_DIR" in result.stderr
    assert "Traceback" not in result.output
