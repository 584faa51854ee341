"""The live event stream's source: one `EventFeed` per process polls the shared database for what changed (any
replica's writes) and fans the changes out to its subscribers (the `GET /v1/events` streams).

It polls only while someone listens: every `interval_s`, and at once when this process's `ChangeFeed` says
something changed. Each kind is read after a position (updated_at, id), looking back `lookback_s` so that a row
whose transaction committed late (or whose replica's clock is a little behind) is not skipped; what was already
sent is remembered for that window, so nothing is sent twice. A subscriber has a bounded queue: one that does
not keep up is dropped (its stream ends; an EventSource reconnects with Last-Event-ID and resumes).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from orchestrator.domain.activity import Change, ChangeKind, Position
from orchestrator.services.ports import ChangesSince, Clock
from orchestrator.services.threads import in_thread

log = logging.getLogger(__name__)

Order = tuple[datetime, str, str]  # Change.order: (at, kind, id)


def cursor_of(change: Change) -> str:
    """The event's opaque id (what a client sends back as Last-Event-ID)."""
    raw = f"{change.at.isoformat()}|{change.kind.value}|{change.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_cursor(cursor: str) -> Order | None:
    """A cursor made by `cursor_of`, or None if it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, kind, pk = raw.split("|", 2)
        when = datetime.fromisoformat(at)
        ChangeKind(kind)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return (when, kind, pk) if when.tzinfo is not None else None


class Ended(Exception):
    """The subscription ended: the listener fell behind, or the feed was closed (shutdown)."""


class Subscription:
    """One listener's changes, in order; `next` waits for the next one (None when `within_s` passed first)."""

    def __init__(self, feed: EventFeed, kinds: frozenset[ChangeKind], size: int) -> None:
        self.kinds = kinds
        self._feed = feed
        self._queue: asyncio.Queue[Change | None] = asyncio.Queue(size)
        self._backlog: deque[Change] = deque()  # the replay after Last-Event-ID, sent before the queue
        self._floor: Order | None = None  # changes at or before it were replayed already
        self.ended = False

    def offer(self, change: Change) -> bool:
        """Queue a change; False (and the subscription ends) when the queue is full."""
        if self.ended:
            return False
        try:
            self._queue.put_nowait(change)
        except asyncio.QueueFull:
            self.end()
            return False
        return True

    def end(self) -> None:
        """No more changes: `next` returns what was replayed, then raises `Ended`."""
        if self.ended:
            return
        self.ended = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)
        self._feed.forget(self)

    async def next(self, within_s: float) -> Change | None:
        if self._backlog:
            return self._backlog.popleft()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while True:
            if self.ended and self._queue.empty():
                raise Ended
            try:
                change = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                left = deadline - loop.time()
                if left <= 0:
                    return None
                try:
                    async with asyncio.timeout(left):
                        change = await self._queue.get()
                except TimeoutError:
                    return None
            if change is None:
                raise Ended
            if self._floor is None or change.order > self._floor:
                return change

    def close(self) -> None:
        """The listener left."""
        self.end()


class EventFeed:
    """What changed, across replicas, to every subscriber of this process (see the module docstring)."""

    def __init__(self, sources: Mapping[ChangeKind, ChangesSince], clock: Clock, *, interval_s: float = 0.5,
                 lookback_s: float = 2.0, page: int = 200, pages_per_poll: int = 5, queue_size: int = 256,
                 replay_limit: int = 500) -> None:
        self._sources = dict(sources)
        self._clock = clock
        self._interval = interval_s
        self._lookback = timedelta(seconds=lookback_s)
        self._page, self._pages, self._queue_size, self._replay_limit = page, pages_per_poll, queue_size, replay_limit
        self._subscribers: set[Subscription] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._reset()

    def _reset(self) -> None:
        self._since: datetime | None = None  # when polling started: older changes were nobody's business
        self._high: dict[ChangeKind, datetime] = {}  # newest `at` read per kind
        self._resume: dict[ChangeKind, Position] = {}  # where a kind with more than a poll's pages goes on
        self._sent: dict[tuple[ChangeKind, str], datetime] = {}  # within the lookback window

    @property
    def listening(self) -> int:
        return len(self._subscribers)

    @property
    def polling(self) -> bool:
        return self._task is not None and not self._task.done()

    async def subscribe(self, kinds: Iterable[ChangeKind] = (), after: Order | None = None) -> Subscription:
        """Listen to `kinds` (all when empty); with `after` (a cursor's order), first replay what came after it."""
        wanted = frozenset(kinds) or frozenset(self._sources)
        sub = Subscription(self, wanted, self._queue_size)
        if self._closed:
            sub.end()
            return sub
        self._subscribers.add(sub)
        self._ensure_polling()
        if after is not None:
            replay = await self._replay(wanted, after)
            sub._backlog.extend(replay)
            sub._floor = replay[-1].order if replay else after
        return sub

    def forget(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    def wake(self) -> None:
        """Something changed in this process: poll now (callable from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def aclose(self) -> None:
        """End every subscription and stop polling."""
        self._closed = True
        for sub in list(self._subscribers):
            sub.end()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # ---- polling -------------------------------------------------------------------------------------------

    def _ensure_polling(self) -> None:
        if self.polling:
            return
        self._loop = asyncio.get_running_loop()
        self._reset()
        self._since = self._clock()
        self._task = self._loop.create_task(self._run(), name="event-feed")

    async def _run(self) -> None:
        failures = 0
        while self._subscribers:
            self._wake.clear()
            try:
                await self.poll()
                failures = 0
            except Exception:
                failures += 1
                if failures in (1, 10) or failures % 100 == 0:
                    log.exception("the event feed could not read what changed (%d time(s) in a row)", failures)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            await asyncio.sleep(0.05)  # a burst of local changes wakes it many times: at most 20 polls a second

    async def poll(self) -> int:
        """Read every wanted kind once and hand out what is new; how many changes were handed out."""
        wanted = frozenset().union(*(s.kinds for s in self._subscribers)) & self._sources.keys()
        found = await asyncio.gather(*(self._read(kind) for kind in wanted))
        fresh = sorted((c for batch in found for c in batch), key=lambda c: c.order)
        for sub in list(self._subscribers):
            for change in fresh:
                if change.kind in sub.kinds and not sub.offer(change):
                    log.info("an event stream listener fell %d events behind and was dropped", self._queue_size)
                    break
        return len(fresh)

    async def _read(self, kind: ChangeKind) -> list[Change]:
        assert self._since is not None
        high = self._high.get(kind, self._since)
        position = self._resume.pop(kind, None) or (high - self._lookback, "")
        source = self._sources[kind]
        rows: list[Change] = []
        for _ in range(self._pages):
            got = await in_thread(source, position, self._page)
            rows.extend(got)
            if len(got) < self._page:
                break
            position = got[-1].position
        else:
            self._resume[kind] = position  # more than a poll's worth: go on from here next time
        fresh = []
        for change in rows:
            key = (kind, change.id)
            if change.at < self._since or self._sent.get(key, change.at - self._lookback) >= change.at:
                continue
            self._sent[key] = change.at
            fresh.append(change)
        if rows:
            high = max(high, rows[-1].at)
            self._high[kind] = high
        cutoff = high - self._lookback
        self._sent = {k: at for k, at in self._sent.items() if k[0] != kind or at >= cutoff}
        return fresh

    async def _replay(self, kinds: frozenset[ChangeKind], after: Order) -> list[Change]:
        at = after[0]
        batches = await asyncio.gather(*(in_thread(self._sources[k], (at, ""), self._replay_limit)
                                         for k in kinds if k in self._sources))
        later = sorted((c for batch in batches for c in batch if c.order > after), key=lambda c: c.order)
        return later[: self._replay_limit]
