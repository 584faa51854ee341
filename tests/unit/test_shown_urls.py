"""Callback URLs as they are shown (API answers, doctor): no credentials, no query."""

from __future__ import annotations

from orchestrator.adapters.setup_checks import check_callback_url
from orchestrator.domain.callbacks import shown_url


def test_credentials_and_query_are_left_out() -> None:
    url = "https://user:s3cret-pass@hooks.example.com:8443/in/broadcasts?token=tok-123#x"
    assert shown_url(url) == "https://hooks.example.com:8443/in/broadcasts"


def test_a_plain_url_is_shown_as_it_is() -> None:
    assert shown_url("http://127.0.0.1/hook") == "http://127.0.0.1/hook"


def test_doctor_names_an_unreachable_callback_without_its_secrets() -> None:
    check = check_callback_url("http://user:s3cret-pass@127.0.0.1:9/hook?token=tok-123")
    assert not check.ok
    assert "127.0.0.1:9/hook" in check.detail
    assert "s3cret-pass" not in check.detail and "tok-123" not in check.detail
