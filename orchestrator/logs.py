"""Logging set-up with a redaction filter: stream keys, storage secrets and tokens never reach a log line."""

from __future__ import annotations

import logging
import threading

from orchestrator.domain.redact import redact_text


class SecretRegistry:
    """Strings that must never be printed; the redaction filter masks every one it holds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()

    def add(self, *secrets: str | None) -> None:
        new = {s for s in secrets if s and len(s) >= 4}
        if new - self._secrets:
            with self._lock:
                self._secrets = self._secrets | new

    @property
    def secrets(self) -> frozenset[str]:
        return self._secrets


SECRETS = SecretRegistry()


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with secrets masked (uvicorn's access records keep their shape)."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = SECRETS.secrets
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            args = list(record.args)
            args[2] = redact_text(str(args[2]), secrets)
            record.args = tuple(args)
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: still log, just unformatted
            message = str(record.msg)
        record.msg = redact_text(message, secrets)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info), secrets)
            record.exc_info = None
        return True


_FILTER = RedactingFilter()


def setup_logging(level: str = "INFO") -> None:
    """Root handler plus the filter on every handler the service and uvicorn use."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level.upper())
    # Per-request and per-tick chatter; warnings still show.
    for noisy in ("httpx", "apscheduler.executors.default", "apscheduler.scheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    protect()


def protect() -> None:
    """Attach the redaction filter to every handler that exists now (idempotent)."""
    loggers = [logging.getLogger()] + [logging.getLogger(n) for n in ("uvicorn", "uvicorn.error",
                                                                       "uvicorn.access", "livekit")]
    for logger in loggers:
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
