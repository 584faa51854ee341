"""FakeClock and ManualTimer: time that moves only when a test says so, and the jobs due by then."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
log = logging.getLogger(__name__)


class FakeClock:
    """A Clock (call it, or `now()`): aware UTC, still until `advance` or `set`."""

    def __init__(self, start: datetime = START) -> None:
        if start.tzinfo is None:
            raise ValueError("the clock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self._now

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, when: datetime) -> datetime:
        """Jump forward to `when`."""
        if when < self._now:
            raise ValueError("time does not go backwards")
        self._now = when.astimezone(UTC)
        return self._now


Job = Callable[[], Awaitable[None]]


class ManualTimer:
    """The Timer port on a FakeClock: `at` and `cancel` as APScheduler's date jobs behave (a key names one job;
    scheduling a key again replaces it), and `run_due()` runs what is due when the test asks."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._jobs: dict[str, tuple[datetime, int, Job]] = {}
        self._order = itertools.count()
        self.failures: list[tuple[str, Exception]] = []  # (key, what it raised), in order

    def at(self, when: datetime, key: str, job: Job) -> None:
        self._jobs[key] = (when, next(self._order), job)

    def cancel(self, key: str) -> None:
        self._jobs.pop(key, None)

    def pending(self) -> dict[str, datetime]:
        """Every scheduled job's key and time."""
        return {key: when for key, (when, _, _) in self._jobs.items()}

    def next_due(self) -> datetime | None:
        return min((when for when, _, _ in self._jobs.values()), default=None)

    async def run_due(self) -> list[str]:
        """Run every job whose time has come, earliest first (then in the order scheduled), one at a time;
        a job that schedules another one due by now gets it run too. Returns the keys run, in order.
        A job that raises is logged and kept in `failures`, as the APScheduler timer logs it and goes on."""
        ran: list[str] = []
        while True:
            now = self._clock.now()
            due = [(when, order, key) for key, (when, order, _) in self._jobs.items() if when <= now]
            if not due:
                return ran
            _, _, key = min(due)
            _, _, job = self._jobs.pop(key)
            ran.append(key)
            try:
                await job()
            except Exception as exc:
                log.exception("timer job %s failed", key)
                self.failures.append((key, exc))

    async def advance(self, seconds: float) -> list[str]:
        """Move the clock forward, running each job at its own time on the way (the clock reads its time)."""
        end = self._clock.now() + timedelta(seconds=seconds)
        ran: list[str] = []
        while (when := self.next_due()) is not None and when <= end:
            if when > self._clock.now():
                self._clock.set(when)
            ran += await self.run_due()
        self._clock.set(end)
        return ran
