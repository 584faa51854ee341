"""The automatic-recording latency probe in metrics: room_started by room name, then the start call written."""

from __future__ import annotations

import time

from orchestrator.metrics import Metrics


def _count(metrics: Metrics) -> float:
    value = metrics.registry.get_sample_value("orchestrator_autorecord_start_seconds_count")
    return value or 0.0


def test_a_start_written_after_room_started_is_measured_once() -> None:
    metrics = Metrics()
    probe = metrics.autorecord_latency
    seen: list[tuple[str, float]] = []
    probe.listen(lambda sid, seconds: seen.append((sid, seconds)))
    probe.room_started("class-a", "RM_a", time.perf_counter() - 0.02)
    probe.start_written("class-a")
    probe.start_written("class-a")  # a second start for the room: not this webhook's
    assert [sid for sid, _ in seen] == ["RM_a"] and 0.02 <= seen[0][1] < 5
    assert _count(metrics) == 1.0


def test_a_start_for_a_room_nobody_announced_is_not_measured() -> None:
    metrics = Metrics()
    metrics.autorecord_latency.start_written("api-started")
    assert _count(metrics) == 0.0


def test_a_retried_webhook_keeps_the_first_arrival() -> None:
    metrics = Metrics()
    probe = metrics.autorecord_latency
    seen: list[float] = []
    probe.listen(lambda _sid, seconds: seen.append(seconds))
    now = time.perf_counter()
    probe.room_started("r", "RM_r", now - 1.0)
    probe.room_started("r", "RM_r", now)
    probe.start_written("r")
    assert len(seen) == 1 and seen[0] >= 1.0


def test_arrivals_without_a_start_call_are_forgotten_after_a_while() -> None:
    metrics = Metrics()
    probe = metrics.autorecord_latency
    now = time.perf_counter()
    probe.room_started("no-rule", "RM_1", now - 31)
    probe.room_started("later", "RM_2", now)
    probe.start_written("no-rule")
    assert _count(metrics) == 0.0
    probe.start_written("later")
    assert _count(metrics) == 1.0
