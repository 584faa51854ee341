"""A restarted in-process sandbox LiveKit kept nothing: the previous run's egresses and rooms are closed, said once."""

from __future__ import annotations

import logging

from orchestrator.domain.egress import ChangeSource
from orchestrator.services.autorecord import AutoRecorder
from orchestrator.services.egresses import EgressLedgerService
from orchestrator.services.ports import EgressLedger
from orchestrator.services.threads import in_thread

log = logging.getLogger(__name__)

SANDBOX_RESTARTED = "the sandbox LiveKit was restarted: its rooms and egresses do not survive a restart"
GONE = 410


async def forget_previous_sandbox(ledger: EgressLedger, egresses: EgressLedgerService,
                                  autorecord: AutoRecorder) -> tuple[int, int]:
    """Fail every unfinished egress and close every open room session of the previous run, with one log line
    for all of them (instead of one "lost" per egress and room). Returns (egresses, sessions)."""
    unfinished = await in_thread(ledger.unfinished)
    for record in unfinished:
        await egresses.fail(record.id, ChangeSource.RECONCILE, SANDBOX_RESTARTED, GONE)
    views = await in_thread(autorecord.sessions, open_only=True, limit=100_000)
    for view in views:
        await autorecord.close_session(view.session.room_sid, SANDBOX_RESTARTED)
    if unfinished or views:
        log.info("sandbox mode: %d egress(es) and %d room session(s) of the previous run were closed: %s",
                 len(unfinished), len(views), SANDBOX_RESTARTED)
    return len(unfinished), len(views)
