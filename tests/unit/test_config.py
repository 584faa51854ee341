"""Settings from the environment."""

from __future__ import annotations

import pytest

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
