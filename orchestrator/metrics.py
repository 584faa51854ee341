"""Prometheus metrics of one service instance, on their own registry."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class _StatusCollector(Collector):
    """A gauge by status, counted in the database at scrape time (so every replica reports the same)."""

    def __init__(self, name: str, doc: str, statuses: list[str], count: Callable[[], dict[str, int]]) -> None:
        self._name, self._doc, self._statuses, self._count = name, doc, statuses, count

    def collect(self):  # type: ignore[no-untyped-def]
        family = GaugeMetricFamily(self._name, self._doc, labels=["status"])
        counts = self._count()
        for status in self._statuses:
            family.add_metric([status], counts.get(status, 0))
        yield family


class AutoRecordLatency:
    """The automatic-recording latency probe: from a room_started webhook reaching the service to the first
    Start*Egress request for that room being written to LiveKit's connection (both told by room name).

    The webhook route tells `room_started`; the LiveKit gateway tells `start_written` (bootstrap hands it this
    method). Nothing about it travels through the services. A room_started whose room gets no start call
    within `_FORGET_S` is forgotten; a retried webhook keeps the first arrival.
    """

    _FORGET_S = 30.0

    def __init__(self, histogram: Histogram) -> None:
        self._histogram = histogram
        self._arrived: dict[str, tuple[str, float]] = {}  # room name -> (room sid, perf_counter), oldest first
        self._listeners: list[Callable[[str, float], None]] = []

    def room_started(self, room_name: str, room_sid: str, at: float) -> None:
        """A room_started webhook for `room_name` reached the service at `at` (time.perf_counter())."""
        arrived = self._arrived
        while arrived:
            oldest = next(iter(arrived))
            if at - arrived[oldest][1] < self._FORGET_S:
                break
            del arrived[oldest]
        arrived.setdefault(room_name, (room_sid, at))

    def start_written(self, room_name: str) -> None:
        """A Start*Egress request for `room_name` was just written to LiveKit's connection."""
        found = self._arrived.pop(room_name, None)
        if found is None:
            return
        room_sid, at = found
        seconds = time.perf_counter() - at
        self._histogram.observe(seconds)
        for listener in self._listeners:
            listener(room_sid, seconds)

    def listen(self, listener: Callable[[str, float], None]) -> None:
        """Also tell `listener(room_sid, seconds)` of each measure (the benchmark's probe)."""
        self._listeners.append(listener)


class Metrics:
    """Counters and histograms the service updates; exposed at /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.webhooks_received = Counter("orchestrator_webhooks_received", "Webhooks accepted",
                                         ["event"], registry=r)
        self.webhooks_rejected = Counter("orchestrator_webhooks_rejected", "Webhooks rejected",
                                         ["reason"], registry=r)
        self.webhooks_duplicate = Counter("orchestrator_webhooks_duplicate",
                                          "Webhooks whose event id was seen before", registry=r)
        self.livekit_latency = Histogram("orchestrator_livekit_call_seconds", "LiveKit API call latency",
                                         ["method"], registry=r,
                                         buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.livekit_errors = Counter("orchestrator_livekit_call_errors", "LiveKit API call errors",
                                      ["method", "code"], registry=r)
        self.autorecord_start = Histogram(
            "orchestrator_autorecord_start_seconds",
            "From a room_started webhook reaching the service to its automatic recording's start call being written",
            registry=r, buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5))
        self.autorecord_latency = AutoRecordLatency(self.autorecord_start)
        self.reconcile_runs = Counter("orchestrator_reconcile_runs", "Reconcile passes", registry=r)
        self.reconcile_repairs = Counter("orchestrator_reconcile_repairs",
                                         "Ledger repairs made by the reconciler", ["kind"], registry=r)

    def watch_ledger(self, count_by_status: Callable[[], dict[str, int]]) -> None:
        from orchestrator.domain.egress import EgressStatus

        self.watch_statuses("orchestrator_egresses", "Egresses in the ledger by status",
                            [s.value for s in EgressStatus], count_by_status)

    def watch_statuses(self, name: str, doc: str, statuses: list[str], count: Callable[[], dict[str, int]]) -> None:
        self.registry.register(_StatusCollector(name, doc, statuses, count))
