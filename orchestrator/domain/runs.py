"""A broadcast run's decisions (pure): misfire, launch failures, an egress that ended, healing and rollover."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from .backoff import backoff_s
from .broadcasts import BroadcastRun, LaunchReason, RunEgress, RunEvent, RunEventKind, RunStatus

WAITING_FOR_PUBLISHER = "waiting for a publisher"
"""The error a run shows while it waits for a publisher (the typed state is `BroadcastRun.awaiting_publisher`)."""
MISSED_ERROR = "missed its start: the service was not running within the misfire grace"
ENDING_SLACK = timedelta(seconds=2)
"""An egress that ends this close to the run's planned end ended the run; earlier, it ended early."""


@dataclass(frozen=True)
class BroadcastPolicy:
    """How runs are started, healed, rolled over and stopped."""

    cap: timedelta = timedelta(hours=12)
    misfire_grace: timedelta = timedelta(minutes=5)
    heal_attempts: int = 5
    heal_base_s: float = 1.0
    rollover_after: timedelta = timedelta(hours=11, minutes=45)  # before LiveKit Cloud's 12 h stream limit
    preflight_lead: timedelta = timedelta(minutes=3)
    stop_retry: timedelta = timedelta(seconds=10)
    launch_lease: timedelta = timedelta(seconds=90)  # a replica that claimed a start and went silent is replaced
    timer_horizon: timedelta = timedelta(minutes=15)  # runs further ahead wait in the database only


# ---- the misfire decision: start, wait, or missed ------------------------------------------------


class StartAction(StrEnum):
    WAIT = "wait"
    START = "start"
    MISSED = "missed"


@dataclass(frozen=True)
class StartDecision:
    action: StartAction
    lateness: timedelta


def decide_start(planned_start: datetime, now: datetime, grace: timedelta) -> StartDecision:
    """On time or late within the misfire grace: start. Beyond the grace: missed. The stores' claim follows it."""
    lateness = now - planned_start
    if lateness < timedelta(0):
        return StartDecision(StartAction.WAIT, lateness)
    if lateness > grace:
        return StartDecision(StartAction.MISSED, lateness)
    return StartDecision(StartAction.START, lateness)


def claimed_detail(instance: str, decision: StartDecision) -> str:
    return f"claimed by {instance}, {int(decision.lateness.total_seconds() * 1000)} ms after the planned start"


def missed_detail(decision: StartDecision) -> str:
    return (f"missed: the service was not running at the planned start (late by "
            f"{int(decision.lateness.total_seconds())} s, beyond the misfire grace)")


# ---- the automatic preflight: note it, announce it, or fail the run -------------------------------


class PreflightVerdict(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # noted on the run and announced; the run still starts
    FAILS_RUN = "fails_run"  # `require_preflight`: the run fails with the reasons instead of starting


@dataclass(frozen=True)
class PreflightOutcome:
    verdict: PreflightVerdict
    passed: int
    total: int
    reasons: tuple[str, ...]  # "<check>: <detail>" of each failed check

    @property
    def detail(self) -> str:
        """The run's history line."""
        head = f"preflight: {self.passed}/{self.total} checks passed"
        return f"{head}; failed: {'; '.join(self.reasons)}" if self.reasons else head

    @property
    def error(self) -> str:
        """The error a run failed by its preflight shows."""
        return f"preflight failed: {'; '.join(self.reasons)}"


def judge_preflight(checks: Sequence[Mapping[str, object]], required: bool) -> PreflightOutcome:
    """A preflight's checks (each with `check`, `ok`, `detail`) judged for a broadcast that does or does not
    require it to pass."""
    failed = tuple(f"{c.get('check')}: {c.get('detail')}" for c in checks if not c.get("ok"))
    verdict = (PreflightVerdict.PASSED if not failed
               else PreflightVerdict.FAILS_RUN if required else PreflightVerdict.FAILED)
    return PreflightOutcome(verdict, len(checks) - len(failed), len(checks), failed)


PREFLIGHT_SLACK = timedelta(seconds=30)
"""How much older than the lead a passed preflight may be at the start: the timers' and the checks' own time."""


def launch_wants_preflight(required: bool, reason: LaunchReason) -> bool:
    """Only the first egress of a run whose broadcast requires its preflight may need one at launch (the
    cheap gate: other launches read nothing more)."""
    return required and reason == LaunchReason.START


def preflight_is_fresh(events: Sequence[RunEvent], changed_at: datetime, now: datetime, lead: timedelta) -> bool:
    """The run's last preflight passed, was made after the broadcast last changed (`changed_at`), and is no
    older than the lead (plus `PREFLIGHT_SLACK`): the run may start on it. Otherwise (none yet, as for a run
    created less than the lead before its start; a failure, which the producer may have fixed since; one made
    before a reschedule) the preflight runs again at launch."""
    last = next((e for e in reversed(events)
                 if e.kind in (RunEventKind.PREFLIGHT, RunEventKind.PREFLIGHT_FAILED)), None)
    return (last is not None and last.kind == RunEventKind.PREFLIGHT and last.at >= changed_at
            and now - last.at <= lead + PREFLIGHT_SLACK)


# ---- an egress that ended, a start that failed: end, heal or fail --------------------------------


def healing_delay(attempt: int, base_s: float = 1.0, cap_s: float = 15.0) -> float:
    """Backoff before replacement attempt `attempt` (1-based): quick enough for Mux's 60 s reconnect window."""
    return backoff_s(attempt, base_s, cap_s)


class Recovery(StrEnum):
    END = "end"  # the run is over (planned end reached, or stopping)
    HEAL = "heal"  # start another egress after `delay_s`
    FAIL = "fail"  # no attempt left


@dataclass(frozen=True)
class RunDecision:
    action: Recovery
    attempt: int = 0  # HEAL: the number of the attempt to come; FAIL: the attempts made
    delay_s: float = 0.0


def replacements(egresses: Sequence[RunEgress]) -> int:
    return sum(1 for e in egresses if e.reason == LaunchReason.REPLACEMENT)


def decide_egress_ended(status: RunStatus, planned_end: datetime, now: datetime, egresses: Sequence[RunEgress],
                        policy: BroadcastPolicy) -> RunDecision:
    """The run's egress ended: at (or while stopping for) the planned end the run ends; earlier, it is healed
    with a replacement egress after a backoff, a bounded number of times, then fails."""
    if status == RunStatus.STOPPING or now >= planned_end - ENDING_SLACK:
        return RunDecision(Recovery.END)
    made = replacements(egresses)
    if made >= policy.heal_attempts:
        return RunDecision(Recovery.FAIL, made)
    return RunDecision(Recovery.HEAL, made + 1, healing_delay(made + 1, policy.heal_base_s))


def decide_launch_failed(attempts: int, policy: BroadcastPolicy) -> RunDecision:
    """A start call failed; `attempts` egress starts have now been made for the run (this one included)."""
    if attempts >= policy.heal_attempts:
        return RunDecision(Recovery.FAIL, attempts)
    return RunDecision(Recovery.HEAL, attempts, healing_delay(attempts, policy.heal_base_s))


# ---- while live: failed destinations, the stream time limit, a silent replica --------------------


def readd_attempts(events: Sequence[RunEvent], destination_id: str) -> int:
    """How often a failed destination has been re-added to the run's egress."""
    return sum(1 for e in events if e.kind == RunEventKind.READD_DESTINATION and e.destination == destination_id)


def needs_rollover(egress_started: datetime | None, now: datetime, limit: timedelta) -> bool:
    """Roll over to a new egress before LiveKit Cloud's stream limit ends this one."""
    return egress_started is not None and now - egress_started >= limit


def rollover_due(egress_started: datetime | None, now: datetime, egresses: Sequence[RunEgress],
                 policy: BroadcastPolicy) -> bool:
    """The egress is near the stream limit and no rollover has begun since it started."""
    if egress_started is None or not needs_rollover(egress_started, now, policy.rollover_after):
        return False
    return not any(e.reason == LaunchReason.ROLLOVER and e.created_at > egress_started for e in egresses)


def lease_expired(run: BroadcastRun, now: datetime, lease: timedelta) -> bool:
    """The replica that claimed the run's launch has been silent longer than the lease."""
    return now - run.updated_at >= lease


def no_start_reason(run: BroadcastRun) -> str:
    """Why a run reached its end time without an egress, in words a producer understands."""
    if run.awaiting_publisher:
        return "no publisher joined before the end time"
    return "the broadcast could not start before its end time"


class StopReason(StrEnum):
    """Why a live or starting run is being stopped (its value is shown in the run's history)."""

    PLANNED_END = "planned end"
    BY_HAND = "stopped by hand"
    CANCELLED = "cancelled"


def stop_error(reason: StopReason) -> str | None:
    """The error a stopping run shows: "cancelled" for a cancelled broadcast; None keeps the run's own."""
    return "cancelled" if reason == StopReason.CANCELLED else None
