"""Group commit: many tasks' small writes stored by one writer, in one transaction per batch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from .threads import in_thread

log = logging.getLogger(__name__)

I = TypeVar("I")  # noqa: E741 (item)
O = TypeVar("O")  # noqa: E741 (outcome)
T = TypeVar("T")

_MAX_BATCH = 256
_TRICKLE_S = 0.001


async def next_batch(queue: asyncio.Queue[T], settle: bool = False) -> list[T]:
    """Wait for one item, then take everything queued behind it (at most _MAX_BATCH).

    `settle`: first let the requests the event loop already holds reach the queue. A burst is read over
    a few turns of the loop; without this its first one or two items make a batch of their own, whose
    fixed cost everyone behind them waits for. A request read in one turn reaches the queue in the next
    (its task runs then), so the queue must stay the same for two turns in a row. A burst can also
    trickle in (its sender writes one request after another): an item still alone then waits one
    millisecond more, once, for company. Alone, an item waits about a millisecond.
    """
    batch = [await queue.get()]
    if settle:
        size, unchanged, waited = -1, 0, False
        for _ in range(64):
            now = queue.qsize()
            if now >= _MAX_BATCH:
                break
            if now != size:
                size, unchanged = now, 0
            else:
                unchanged += 1
                if unchanged >= 2:
                    if now > 0 or waited:
                        break
                    waited = True
                    await asyncio.sleep(_TRICKLE_S)
                    continue
            await asyncio.sleep(0)
    while not queue.empty() and len(batch) < _MAX_BATCH:
        batch.append(queue.get_nowait())
    return batch


class GroupCommit(Generic[I, O]):
    """`await group(item)` -> that item's outcome.

    Each task awaits its own result; one writer hands everything queued so far to `apply`, which stores it
    in one transaction in a worker thread. The event loop never waits for the database, and a hundred
    small transactions become one.

    `apply(items)` returns one outcome per item, in order; an outcome that is an exception is raised
    to that item's caller alone. If `apply` itself raises, every caller of the batch gets the error.
    """

    def __init__(self, apply: Callable[[list[I]], Sequence[O | BaseException]], name: str) -> None:
        self._apply, self._name = apply, name
        self._queue: asyncio.Queue[tuple[I, asyncio.Future[O]]] | None = None
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, item: I) -> O:
        if self._queue is None or self._task is None or self._task.done():
            self._queue = asyncio.Queue()
            self._task = asyncio.create_task(self._run(self._queue), name=self._name)
        future: asyncio.Future[O] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, future))
        return await future

    async def _run(self, queue: asyncio.Queue[tuple[I, asyncio.Future[O]]]) -> None:
        batch: list[tuple[I, asyncio.Future[O]]] = []
        try:
            while True:
                batch = await next_batch(queue)
                try:
                    outcomes = await in_thread(self._apply, [item for item, _ in batch])
                except Exception as exc:
                    log.exception("%s: storing %d item(s) failed", self._name, len(batch))
                    outcomes = [exc] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        except asyncio.CancelledError:  # shutting down: nobody is left waiting forever
            while not queue.empty():
                batch.append(queue.get_nowait())
            for _, future in batch:
                if not future.done():
                    future.set_exception(RuntimeError(f"{self._name}: the service is shutting down"))
            raise

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = self._queue = None
