"""BroadcastStore.runs_in over a window of planned starts, with a limit (the console's Now page), on memory,
SQLite and PostgreSQL."""

from __future__ import annotations

from orchestrator.domain.broadcasts import RunStatus
from tests.contracts.conftest import Backend
from tests.contracts.test_broadcast_store import broadcast, later, run


def test_runs_in_a_window_of_planned_starts_first_ones_first(backend: Backend) -> None:
    store = backend.broadcasts
    for i, start in enumerate((50, 10, 30, 40, 20)):
        store.create(broadcast(f"brd_{i}"), run(f"run_{i}", f"brd_{i}", start=later(start)), "scheduled")
    store.transition("run_3", [RunStatus.SCHEDULED], RunStatus.FAILED, later(41), "failed")

    def ids(**window: object) -> list[str]:
        return [r.id for r in store.runs_in([RunStatus.SCHEDULED], **window)]  # type: ignore[arg-type]

    assert ids() == ["run_1", "run_4", "run_2", "run_0"]
    assert ids(starting_after=later(20)) == ["run_4", "run_2", "run_0"]  # inclusive
    assert ids(starting_after=later(20), starting_before=later(30)) == ["run_4", "run_2"]
    assert ids(starting_after=later(15), limit=2) == ["run_4", "run_2"]
    assert ids(limit=0) == []
    assert [r.id for r in store.runs_in([RunStatus.FAILED], starting_after=later(40))] == ["run_3"]
    assert store.runs_in([RunStatus.FAILED], starting_after=later(41)) == []
