"""Sign-in throttling: failures counted per name and per client address in the database (so every replica
sees them); past the free attempts, each further one waits a doubling delay."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from orchestrator.domain.identity import ThrottlePolicy, retry_at

from .ports import IdentityStore
from .threads import in_thread


class SignInRefused(Exception):
    """Wrong name or password (the same answer for both)."""


class SignInThrottled(Exception):
    """Too many recent failures for this name or address: try again at `retry_at`."""

    def __init__(self, retry_at: datetime, seconds: int) -> None:
        super().__init__(f"too many failed sign-ins: try again in {seconds} s")
        self.retry_at = retry_at
        self.seconds = seconds


def scopes(name: str, address: str) -> list[str]:
    return [f"name:{name[:100]}", f"address:{address[:100]}"]


class SignInThrottle:
    def __init__(self, store: IdentityStore, clock: Callable[[], datetime], policy: ThrottlePolicy) -> None:
        self._store = store
        self._clock = clock
        self._policy = policy
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # scope -> (lock, holders and waiters)

    @contextlib.asynccontextmanager
    async def attempt(self, name: str, address: str) -> AsyncIterator[None]:
        """One sign-in attempt at a time per name and per address in this replica: a burst of parallel attempts
        cannot all pass `check` before the first failure is recorded (across replicas, at most one each)."""
        keys = sorted(scopes(name, address))  # one order for all: none holds what another waits for
        counted: list[str] = []
        held: list[asyncio.Lock] = []
        try:
            for key in keys:
                lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
                self._locks[key] = (lock, users + 1)
                counted.append(key)
                await lock.acquire()
                held.append(lock)
            yield
        finally:
            for lock in held:
                lock.release()
            for key in counted:
                lock, users = self._locks[key]
                if users <= 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)

    async def check(self, name: str, address: str) -> None:
        """SignInThrottled when the name or the address must wait."""
        now = self._clock()
        failures = await in_thread(self._store.sign_in_failures, scopes(name, address), now - self._policy.window)
        waits = [t for t in (retry_at(f, now, self._policy) for f in failures.values()) if t is not None]
        if waits:
            until = max(waits)
            raise SignInThrottled(until, max(1, int((until - now).total_seconds() + 0.999)))

    async def failed(self, name: str, address: str) -> None:
        now = self._clock()
        await in_thread(self._store.add_sign_in_failure, scopes(name, address), now, now - self._policy.window)

    async def succeeded(self, name: str) -> None:
        """A successful sign-in clears its name's failures (not its address's)."""
        await in_thread(self._store.clear_sign_in_failures, scopes(name, "")[0])
