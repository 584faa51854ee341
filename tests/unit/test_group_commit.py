"""GroupCommit: concurrent callers share one `apply`, each gets its own outcome."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.services.group_commit import GroupCommit


def test_callers_together_share_one_apply_and_get_their_own_outcomes() -> None:
    calls: list[list[int]] = []

    def apply(items: list[int]) -> list[int | BaseException]:
        calls.append(items)
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]

    async def main() -> list[int | BaseException]:
        group: GroupCommit[int, int] = GroupCommit(apply, "test")
        try:
            return await asyncio.gather(*(group(i) for i in range(6)), return_exceptions=True)
        finally:
            await group.aclose()

    results = asyncio.run(main())
    assert calls == [[0, 1, 2, 3, 4, 5]]
    assert [r if isinstance(r, int) else str(r) for r in results] == [0, "odd 1", 20, "odd 3", 40, "odd 5"]


def test_a_failing_apply_fails_its_batch_and_the_next_batch_still_runs() -> None:
    def apply(items: list[str]) -> list[str]:
        if "boom" in items:
            raise RuntimeError("database is down")
        return [i.upper() for i in items]

    async def main() -> tuple[list[str | BaseException], str]:
        group: GroupCommit[str, str] = GroupCommit(apply, "test")
        try:
            first = await asyncio.gather(group("a"), group("boom"), return_exceptions=True)
            return first, await group("later")
        finally:
            await group.aclose()

    first, later = asyncio.run(main())
    assert all(isinstance(r, RuntimeError) for r in first)
    assert later == "LATER"


def test_closing_fails_whoever_still_waits() -> None:
    async def main() -> None:
        release = asyncio.Event()
        loop = asyncio.get_running_loop()

        def apply(items: list[int]) -> list[int]:
            asyncio.run_coroutine_threadsafe(release.wait(), loop).result(5)
            return items

        group: GroupCommit[int, int] = GroupCommit(apply, "test")
        waiting = asyncio.ensure_future(group(1))
        await asyncio.sleep(0.05)
        await group.aclose()
        release.set()
        with pytest.raises(RuntimeError, match="shutting down"):
            await waiting

    asyncio.run(main())


def test_a_burst_read_over_several_turns_of_the_loop_is_one_batch() -> None:
    """As uvicorn does: bytes read in one turn make a task; the task puts its request in the queue a turn later."""
    from unittest import mock

    from orchestrator.services import group_commit
    from orchestrator.services.group_commit import next_batch

    async def main() -> tuple[list[int], list[int], list[int], float]:
        queue: asyncio.Queue[int] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        async def handle(i: int) -> None:
            queue.put_nowait(i)

        tasks: list[asyncio.Future[None]] = []

        def read(first: int, count: int) -> None:
            tasks.extend(asyncio.ensure_future(handle(i)) for i in range(first, first + count))

        queue.put_nowait(0)  # the first request, alone, is in the queue before the rest are read
        loop.call_soon(read, 1, 30)
        burst = await next_batch(queue, settle=True)
        # A trickle: the first alone, the next ones written a little later (a sender writing one by one).
        queue.put_nowait(50)
        loop.call_later(0.0002, read, 51, 10)
        trickle = await next_batch(queue, settle=True)
        queue.put_nowait(100)  # a webhook on its own is not held back for long, nor spun for
        began = loop.time()
        real_sleep, turns = asyncio.sleep, []

        async def counted(delay: float) -> None:
            turns.append(delay)
            await real_sleep(delay)

        with mock.patch.object(group_commit.asyncio, "sleep", counted):
            alone = await next_batch(queue, settle=True)
        assert len(turns) <= 4, turns
        return burst, trickle, alone, loop.time() - began

    burst, trickle, alone, waited = asyncio.run(main())
    assert burst == list(range(31))
    assert trickle == list(range(50, 61))
    assert alone == [100] and waited < 0.05
