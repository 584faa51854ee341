"""FakeClock and ManualTimer: time moves when the test says; due jobs run in time order, one key one job."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.adapters.memory import FakeClock, ManualTimer

T = datetime(2030, 3, 1, 8, 0, tzinfo=UTC)


def test_the_clock_moves_only_forward_and_only_when_told() -> None:
    clock = FakeClock(T)
    assert clock() == clock.now() == T
    assert clock.advance(1.5) == T + timedelta(seconds=1.5) == clock()
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="backwards"):
        clock.set(T)
    with pytest.raises(ValueError, match="aware"):
        FakeClock(datetime(2030, 1, 1))


async def test_due_jobs_run_in_time_order_and_a_key_names_one_job() -> None:
    clock = FakeClock(T)
    timer = ManualTimer(clock)
    ran: list[str] = []

    def job(name: str, then: tuple[float, str] | None = None) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            ran.append(name)
            if then is not None:
                timer.at(clock() + timedelta(seconds=then[0]), then[1], job(then[1]))
        return run

    timer.at(T + timedelta(seconds=10), "b", job("b"))
    timer.at(T + timedelta(seconds=5), "a", job("a-old"))
    timer.at(T + timedelta(seconds=5), "a", job("a", then=(0, "a2")))  # replaces; schedules one due at once
    timer.at(T + timedelta(seconds=30), "c", job("c"))
    timer.cancel("c")
    timer.cancel("never-scheduled")
    assert await timer.run_due() == [] and timer.pending() == {"a": T + timedelta(seconds=5),
                                                               "b": T + timedelta(seconds=10)}
    clock.advance(20)
    # "a2" is due at the time "a" ran (now, T+20): after "b" (T+10), still in this call.
    assert await timer.run_due() == ["a", "b", "a2"] and ran == ["a", "b", "a2"]
    assert timer.next_due() is None


async def test_advance_runs_each_job_at_its_own_time_and_logs_failures() -> None:
    clock = FakeClock(T)
    timer = ManualTimer(clock)
    seen: list[datetime] = []

    async def note() -> None:
        seen.append(clock())

    async def boom() -> None:
        raise RuntimeError("boom")

    timer.at(T + timedelta(seconds=3), "x", note)
    timer.at(T + timedelta(seconds=1), "y", boom)
    timer.at(T + timedelta(seconds=9), "z", note)
    assert await timer.advance(5) == ["y", "x"]
    assert seen == [T + timedelta(seconds=3)] and clock() == T + timedelta(seconds=5)
    assert [(key, str(exc)) for key, exc in timer.failures] == [("y", "boom")]
    assert timer.pending() == {"z": T + timedelta(seconds=9)}
