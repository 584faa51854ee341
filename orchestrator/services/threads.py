"""Blocking port calls (the database, object storage) run in worker threads, never on the event loop."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio.to_thread

P = ParamSpec("P")
R = TypeVar("R")


async def in_thread(call: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`call(*args, **kwargs)` in anyio's worker threads (the pool the HTTP server uses too: 40 threads).

    On SQLite a write may wait for the one writer (a webhook batch may hold it); the loop keeps serving.
    """
    return await anyio.to_thread.run_sync(functools.partial(call, *args, **kwargs))
