"""Blocking port calls (the database, object storage) run in worker threads, never on the event loop."""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

import anyio.to_thread

P = ParamSpec("P")
R = TypeVar("R")

_INLINE = contextvars.ContextVar("orchestrator_inline_port_calls", default=False)


async def in_thread(call: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`call(*args, **kwargs)` in anyio's worker threads (the pool the HTTP server uses too: 40 threads).

    On SQLite a write may wait for the one writer (a webhook batch may hold it); the loop keeps serving.
    """
    if _INLINE.get():
        return call(*args, **kwargs)
    return await anyio.to_thread.run_sync(functools.partial(call, *args, **kwargs))


@contextlib.contextmanager
def inline_port_calls() -> Iterator[None]:
    """Within this context, `in_thread` calls run on the event loop itself: for ports that never block (the
    in-memory fakes of `adapters/memory`), so that use cases run deterministically, without threads."""
    token = _INLINE.set(True)
    try:
        yield
    finally:
        _INLINE.reset(token)
