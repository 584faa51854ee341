"""Connections to LiveKit opened ahead of need, as the sandbox's server sees them."""

from __future__ import annotations

import asyncio

from orchestrator.adapters.livekit import LiveKitEgressGateway
from orchestrator.sandbox import SandboxThread
from tests.conftest import LK_KEY, LK_SECRET


async def _settled(sandbox: SandboxThread, expected: int) -> int:
    for _ in range(100):
        if sandbox.open_connections() == expected:
            break
        await asyncio.sleep(0.02)
    return sandbox.open_connections()


async def test_warm_connections_are_open_before_a_burst_and_the_burst_opens_no_more(sandbox: SandboxThread) -> None:
    gateway = LiveKitEgressGateway(sandbox.url, LK_KEY, LK_SECRET, timeout_s=5, start_timeout_s=5)
    before = sandbox.open_connections()
    try:
        assert await gateway.keep_warm(6) == 6
        assert await _settled(sandbox, before + 6) == before + 6  # LiveKit sees them, though nothing was sent
        assert await gateway.keep_warm(6) == 6  # the idle ones are handed out again: none opened
        assert await _settled(sandbox, before + 6) == before + 6
        # Six calls at once: each takes a warm connection instead of opening one.
        answers = await asyncio.gather(*(gateway.list_egresses(room_name=f"room-{i}") for i in range(6)))
        assert answers == [[]] * 6
        assert await _settled(sandbox, before + 6) == before + 6
        # A seventh concurrent call needs one more.
        await asyncio.gather(*(gateway.list_egresses(room_name=f"room-{i}") for i in range(7)))
        assert await _settled(sandbox, before + 7) == before + 7
    finally:
        await gateway.aclose()
    assert await _settled(sandbox, before) == before


async def test_an_unreachable_livekit_makes_keep_warm_report_none_ready() -> None:
    gateway = LiveKitEgressGateway("http://127.0.0.1:9", LK_KEY, LK_SECRET, timeout_s=2, start_timeout_s=2)
    try:
        assert await gateway.keep_warm(3) == 0
    finally:
        await gateway.aclose()


async def test_keep_warm_keeps_as_many_as_the_busiest_recent_moment_used(sandbox: SandboxThread) -> None:
    gateway = LiveKitEgressGateway(sandbox.url, LK_KEY, LK_SECRET, timeout_s=5, start_timeout_s=5)
    try:
        assert await gateway.keep_warm(2) == 2
        # Nine calls at once (a burst bigger than configured): the next top-up keeps nine ready.
        await asyncio.gather(*(gateway.list_egresses(room_name=f"room-{i}") for i in range(9)))
        assert await gateway.keep_warm(2) == 9
        assert await gateway.keep_warm(2) == 9  # remembered for ten minutes, not only until the next top-up
        assert await gateway.keep_warm(0) == 0  # 0 turns it off
    finally:
        await gateway.aclose()
