"""The SessionStore contract: sessions, claims won once per key, guarded claim changes with history, DELEGATED."""

from __future__ import annotations

from datetime import timedelta

from orchestrator.domain.rules import ActionKind
from orchestrator.domain.sessions import ClaimState
from tests.contracts.conftest import Backend
from tests.contracts.rows import T0, at, claim, session

C = ClaimState


def _states(backend: Backend, key: str) -> list[tuple[ClaimState | None, ClaimState]]:
    return [(e.state_before, e.state_after) for e in backend.sessions.claim_history(key)]


def _state(backend: Backend, key: str) -> ClaimState | None:
    found = backend.sessions.get_claim(key)
    return found.state if found else None


def test_a_session_opens_once_and_each_claim_is_won_once(backend: Backend) -> None:
    store = backend.sessions
    composite, track = claim("RM_a"), claim("RM_a", action=ActionKind.TRACK, subject="TR_1")
    [(stored, created, won)] = store.open_sessions([(session("RM_a"), [composite, track, composite], None)])
    assert created and stored == session("RM_a") and [c.key for c in won] == [composite.key, track.key]
    [(again, created_again, won_again)] = store.open_sessions([(session("RM_a", started=at(5)), [composite], None)])
    assert not created_again and again.started_at == T0 and won_again == []
    assert store.claim("RM_a", [composite, claim("RM_a", part=2)]) == [claim("RM_a", part=2)]
    assert store.get_session("RM_a") == session("RM_a")
    got = store.get_claim(composite.key)
    assert got is not None and got.state == C.CLAIMED and got.request == {"layout": "grid", "part": 1}
    assert got.retry_at == T0 + timedelta(minutes=1) and got.attempts == 0
    [event] = store.claim_history(composite.key)
    assert (event.state_before, event.state_after, event.at) == (None, C.CLAIMED, T0)
    assert store.claim("RM_unknown", [claim("RM_unknown")]) == []
    assert store.get_claim(claim("RM_unknown").key) is None


def test_a_room_given_twice_in_one_call_is_created_and_won_by_its_first(backend: Backend) -> None:
    results = backend.sessions.open_sessions([(session("RM_b"), [claim("RM_b")], None),
                                              (session("RM_b", started=at(1)), [claim("RM_b")], None)])
    assert [(s.started_at, created, len(won)) for s, created, won in results] == [(T0, True, 1), (T0, False, 0)]


def test_binding_failing_and_retrying_a_claim_each_leave_a_history_row(backend: Backend) -> None:
    store = backend.sessions
    key = claim("RM_c").key
    store.open_sessions([(session("RM_c"), [claim("RM_c")], None)])
    store.fail_claim(key, "LiveKit is unavailable", at(10), at(1))
    failed = store.get_claim(key)
    assert failed is not None and (failed.state, failed.error, failed.retry_at) == (C.FAILED, "LiveKit is unavailable",
                                                                                   at(10))
    assert store.due_claims(at(9)) == [] and [c.key for c in store.due_claims(at(10))] == [key]
    assert store.take_for_retry(key, at(9), at(40)) is None  # not due yet
    taken = store.take_for_retry(key, at(10), at(40))
    assert taken is not None and (taken.state, taken.attempts, taken.retry_at) == (C.CLAIMED, 1, at(40))
    assert store.take_for_retry(key, at(11), at(41)) is None  # leased to the first taker
    assert store.bind_claims([(key, "egr_c1", at(12))]) == [True]
    bound = store.get_claim(key)
    assert bound is not None and (bound.state, bound.egress_pk, bound.error, bound.retry_at) == (C.STARTED, "egr_c1",
                                                                                                "", None)
    assert store.claim_of_egress("egr_c1") == bound
    assert store.bind_claims([(key, "egr_c1", at(13))]) == [True]  # binding again is harmless
    store.fail_claim(key, "too late", None, at(14))  # a started claim never fails
    assert _states(backend, key) == [(None, C.CLAIMED), (C.CLAIMED, C.FAILED), (C.FAILED, C.CLAIMED),
                                     (C.CLAIMED, C.STARTED)]
    history = store.claim_history(key)
    assert history[1].detail == "LiveKit is unavailable" and history[3].egress_pk == "egr_c1"
    assert history[3].at == at(12)


def test_closing_a_session_cancels_the_claims_not_started(backend: Backend) -> None:
    store = backend.sessions
    claims = [claim("RM_d", rule_id=r) for r in ("rul_1", "rul_2", "rul_3")]
    store.open_sessions([(session("RM_d"), claims, None)])
    store.bind_claims([(claims[0].key, "egr_d1", at(1))])
    store.fail_claim(claims[1].key, "no worker", at(5), at(2))
    closed, started = store.close_session("RM_d", at(3))
    assert closed and [c.key for c in started] == [claims[0].key]
    assert [_state(backend, c.key) for c in claims] == [C.STARTED, C.CANCELLED, C.CANCELLED]
    assert _states(backend, claims[1].key)[-1] == (C.FAILED, C.CANCELLED)
    again, _ = store.close_session("RM_d", at(4))
    assert not again
    stored = store.get_session("RM_d")
    assert stored is not None and stored.ended_at == at(3)
    assert store.claim("RM_d", [claim("RM_d", part=2)]) == []  # an ended session takes no claims
    assert store.open_sessions([(session("RM_d"), [claim("RM_d", part=3)], None)])[0][2] == []
    assert store.due_claims(at(100)) == []


def test_a_claim_cancelled_while_its_start_call_was_out_is_not_bound_as_started(backend: Backend) -> None:
    store = backend.sessions
    won = {}
    for sid in ("RM_ended", "RM_open"):
        _, created, [got] = store.open_sessions([(session(sid), [claim(sid)], None)])[0]
        assert created
        won[sid] = got
    closed, with_egress = store.close_session("RM_ended", T0)  # room_finished: no egress to stop yet
    assert closed and with_egress == []
    assert store.bind_claims([(won["RM_ended"].key, "egr_late", T0), (won["RM_open"].key, "egr_fine", T0)]) == \
        [False, True]  # the first must be stopped by the caller
    ended, fine = store.get_claim(won["RM_ended"].key), store.get_claim(won["RM_open"].key)
    assert ended is not None and ended.state == C.CANCELLED and ended.egress_pk == "egr_late"
    assert "ended while its start call was out" in ended.error
    assert fine is not None and fine.state == C.STARTED and fine.egress_pk == "egr_fine"
    assert store.bind_claims([(won["RM_open"].key, "egr_fine", T0)]) == [True]  # binding again is harmless
    assert _states(backend, won["RM_ended"].key)[-1] == (C.CANCELLED, C.CANCELLED)
    assert store.bind_claims([("no/such/claim", "egr_x", T0)]) == [True]


def test_claims_of_an_ended_room_are_never_retried(backend: Backend) -> None:
    store = backend.sessions
    key = claim("RM_e").key
    store.open_sessions([(session("RM_e"), [claim("RM_e")], None)])
    store.fail_claim(key, "boom", at(2), at(1))
    store.close_session("RM_e", at(1))
    assert store.due_claims(at(100)) == [] and store.take_for_retry(key, at(100), at(130)) is None
    got = store.get_claim(key)
    assert got is not None and got.state == C.CANCELLED and got.retry_at is None
    assert [e.detail for e in store.claim_history(key)][1:] == ["boom", "the room ended"]


def test_a_pending_create_room_delegates_the_composite_of_its_rule(backend: Backend) -> None:
    store = backend.sessions
    store.expect_room("room-g", "rul_1", at(-5))
    composite, other = claim("RM_g", room="room-g"), claim("RM_g", rule_id="rul_2", room="room-g")
    [(_, created, won)] = store.open_sessions([(session("RM_g", room="room-g"), [composite, other], at(-30))])
    assert created and [(c.key, c.state) for c in won] == [(composite.key, C.DELEGATED), (other.key, C.CLAIMED)]
    assert won[0].egress_pk is None and won[0].retry_at is None
    assert store.due_claims(at(1000)) == [store.get_claim(other.key)]  # a delegated claim is never retried
    bound = store.bind_delegated("RM_g", "egr_auto", at(2))
    assert bound is not None and bound.key == composite.key and bound.state == C.STARTED
    assert bound.egress_pk == "egr_auto" and store.bind_delegated("RM_g", "egr_auto2", at(3)) is None
    assert _states(backend, composite.key) == [(None, C.DELEGATED), (C.DELEGATED, C.STARTED)]
    # The request was consumed: the next session of that room records itself.
    [(_, _, won_next)] = store.open_sessions([(session("RM_g2", room="room-g"), [claim("RM_g2", room="room-g")],
                                               at(-30))])
    assert [c.state for c in won_next] == [C.CLAIMED]


def test_a_stale_or_forgotten_create_room_delegates_nothing(backend: Backend) -> None:
    store = backend.sessions
    store.expect_room("room-h", "rul_1", at(-60))  # older than the session's window: consumed, not delegated
    [(_, _, won)] = store.open_sessions([(session("RM_h", room="room-h"), [claim("RM_h", room="room-h")], at(-30))])
    assert [c.state for c in won] == [C.CLAIMED]
    store.expect_room("room-i", "rul_1", at(-5))
    store.forget_expected_room("room-i")
    [(_, _, won_i)] = store.open_sessions([(session("RM_i", room="room-i"), [claim("RM_i", room="room-i")], at(-30))])
    assert [c.state for c in won_i] == [C.CLAIMED]
    store.expect_room("room-j", "rul_1", at(-5))
    store.expect_room("room-j", "rul_1", at(-4))  # asked again: one request
    [(_, _, won_j)] = store.open_sessions([(session("RM_j", room="room-j"), [claim("RM_j", room="room-j")], None)])
    assert [c.state for c in won_j] == [C.CLAIMED]  # no window given: not consumed either
    [(_, _, won_j2)] = store.open_sessions([(session("RM_j2", room="room-j"), [claim("RM_j2", room="room-j")],
                                             at(-30))])
    assert [c.state for c in won_j2] == [C.DELEGATED]


def test_listings_of_sessions_and_claims(backend: Backend) -> None:
    store = backend.sessions
    store.open_sessions([(session(sid, room="room-k" if sid != "RM_k3" else "room-z", started=at(i)),
                          [claim(sid, part=p) for p in (1, 2)] + [claim(sid, action=ActionKind.TRACK, subject="TR")],
                          None) for i, sid in enumerate(("RM_k1", "RM_k2", "RM_k3"))])
    store.close_session("RM_k2", at(9))
    assert [s.room_sid for s in store.sessions()] == ["RM_k3", "RM_k2", "RM_k1"]
    assert [s.room_sid for s in store.sessions(room_name="room-k", open_only=True)] == ["RM_k1"]
    assert [s.room_sid for s in store.sessions(limit=1)] == ["RM_k3"]
    assert [(c.room_sid, c.action, c.part) for c in store.claims_of(["RM_k1", "RM_k3"])] == [
        ("RM_k1", ActionKind.COMPOSITE, 1), ("RM_k1", ActionKind.COMPOSITE, 2), ("RM_k1", ActionKind.TRACK, 1),
        ("RM_k3", ActionKind.COMPOSITE, 1), ("RM_k3", ActionKind.COMPOSITE, 2), ("RM_k3", ActionKind.TRACK, 1)]
    assert store.claims_of([]) == []
    store.bind_claims([(claim("RM_k1", part=2).key, "egr_k1", at(10)), (claim("RM_k3", part=1).key, "egr_k3", at(10))])
    # The newest part of each open session's composite, when it has started: RM_k3's part 2 has not.
    assert [(c.room_sid, c.part) for c in store.running_composites()] == [("RM_k1", 2)]
