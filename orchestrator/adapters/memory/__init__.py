"""In-memory fakes of the ports, faithful to the SQL stores and LiveKit: for the service tests and the contracts."""

from .clock import FakeClock, ManualTimer
from .database import MemoryDatabase
from .ledger import MemoryEgressLedger
from .livekit import FakeLiveKit, StartFailure
from .rules import MemoryRuleStore
from .sessions import MemorySessionStore
from .webhooks import MemoryWebhookIntakeStore, MemoryWebhookStore

__all__ = [
    "FakeClock",
    "FakeLiveKit",
    "ManualTimer",
    "MemoryDatabase",
    "MemoryEgressLedger",
    "MemoryRuleStore",
    "MemorySessionStore",
    "MemoryWebhookIntakeStore",
    "MemoryWebhookStore",
    "StartFailure",
]
