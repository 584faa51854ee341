"""Where the sign-in page sends a person afterwards: only a path on this site."""

from __future__ import annotations

import pytest

from orchestrator.api.pages.signin import safe_next


@pytest.mark.parametrize(("given", "expected"), [
    ("/broadcasts?page=2", "/broadcasts?page=2"), ("/", "/"), (None, "/"), ("", "/"),
    ("https://evil.example/", "/"), ("//evil.example/x", "/"), ("/\\evil.example", "/"), ("/a\\b", "/"),
    ("javascript:alert(1)", "/"), ("/x\r\nSet-Cookie: a=b", "/"), ("settings", "/"),
])
def test_next_is_a_local_path_or_home(given: str | None, expected: str) -> None:
    assert safe_next(given) == expected
