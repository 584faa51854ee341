"""Identity's pure rules: names, passwords, the throttle's delays, a key's effective role, session expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.domain.errors import InvalidInput
from orchestrator.domain.identity import (
    ApiKey,
    ConsoleSession,
    Person,
    PrincipalKind,
    Role,
    SessionPolicy,
    ThrottlePolicy,
    check_name,
    check_password,
    key_principal,
    retry_at,
)

T0 = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("name", ["a", "alice", "ops.bot-2_x", "A" * 64])
def test_good_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "A" * 65, "with space", "é", "<script>", "a/b", "a\nb"])
def test_bad_names(name: str) -> None:
    with pytest.raises(InvalidInput, match="1 to 64 letters"):
        check_name(name)


def test_passwords_need_twelve_characters() -> None:
    assert check_password("x" * 12)
    with pytest.raises(InvalidInput) as caught:
        check_password("x" * 11)
    assert caught.value.field == "password" and caught.value.message == "password: at least 12 characters"


def minutes(*values: float) -> list[datetime]:
    return [T0 + timedelta(minutes=v) for v in values]


def test_five_failures_are_free_then_the_wait_doubles_up_to_fifteen_minutes() -> None:
    policy = ThrottlePolicy()
    assert retry_at(minutes(0, 1, 2, 3), T0 + timedelta(minutes=3), policy) is None
    five = minutes(0, 1, 2, 3, 4)
    assert retry_at(five, T0 + timedelta(minutes=4), policy) == T0 + timedelta(minutes=4, seconds=30)
    assert retry_at(five, T0 + timedelta(minutes=4, seconds=31), policy) is None
    six = minutes(0, 1, 2, 3, 4, 5)
    assert retry_at(six, T0 + timedelta(minutes=5), policy) == T0 + timedelta(minutes=6)
    many = minutes(*[i / 10 for i in range(40)])
    now = T0 + timedelta(minutes=3.9)
    assert retry_at(many, now, policy) == now + timedelta(minutes=15)


def test_failures_older_than_the_window_do_not_count() -> None:
    assert retry_at(minutes(0, 1, 2, 3, 4), T0 + timedelta(minutes=15, seconds=1), ThrottlePolicy()) is None


def key(role: Role, creator: str = "alice", revoked: bool = False) -> ApiKey:
    return ApiKey("k1", "deploy", role, creator, T0, "d", revoked_at=T0 if revoked else None)


def test_a_key_acts_with_its_role_capped_by_its_creator_now() -> None:
    alice = Person("alice", Role.PRODUCER, "h", T0)
    who = key_principal(key(Role.VIEWER), alice)
    assert who is not None and (who.name, who.role, who.kind, who.owner) == (
        "deploy", Role.VIEWER, PrincipalKind.KEY, "alice")
    capped = key_principal(key(Role.ADMIN), alice)
    assert capped is not None and capped.role is Role.PRODUCER


def test_a_key_is_refused_when_revoked_or_its_creator_is_gone_or_disabled() -> None:
    alice = Person("alice", Role.ADMIN, "h", T0)
    assert key_principal(key(Role.VIEWER, revoked=True), alice) is None
    assert key_principal(key(Role.VIEWER), None) is None
    assert key_principal(key(Role.VIEWER), Person("alice", Role.ADMIN, "h", T0, disabled=True)) is None
    token_key = key_principal(key(Role.ADMIN, creator="api-token"), None)
    assert token_key is not None and token_key.role is Role.ADMIN


def test_a_session_is_touched_at_most_once_a_minute_and_never_past_its_absolute_limit() -> None:
    policy = SessionPolicy(idle=timedelta(hours=1), absolute=timedelta(hours=2))
    s = ConsoleSession("d", "alice", T0, T0, T0 + timedelta(hours=1))
    assert s.touched(T0 + timedelta(seconds=30), policy) is None
    moved = s.touched(T0 + timedelta(minutes=90), policy)
    assert moved is not None and moved.expires_at == T0 + timedelta(hours=2)
    assert moved.expired(T0 + timedelta(hours=2)) and not moved.expired(T0 + timedelta(minutes=119))
