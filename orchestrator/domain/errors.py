"""The service's one exception tree; the API maps each branch to an HTTP status.

OrchestratorError
├── InvalidInput          bad input, names the field            (422)
├── NotFound              unknown id                            (404)
├── Conflict              the request clashes with the state    (409)
└── LiveKitError          LiveKit did not do what we asked
    ├── LiveKitRejected   LiveKit answered with an error code   (502)
    │   ├── EgressUnknownToLiveKit   `not_found` for an egress id
    │   └── EgressAlreadyEnded       `failed_precondition` on stop/update
    └── LiveKitUnavailable           unreachable, 5xx, timed out   (503)
└── StorageUnavailable    S3 or the recordings volume unreachable (503)
"""

from __future__ import annotations


class OrchestratorError(Exception):
    """Root of every error this service raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(OrchestratorError):
    code = "invalid_input"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(OrchestratorError):
    code = "not_found"


class Conflict(OrchestratorError):
    code = "conflict"


class LiveKitError(OrchestratorError):
    code = "livekit_error"


class LiveKitRejected(LiveKitError):
    """LiveKit answered with a Twirp error; `message` is already redacted."""

    def __init__(self, twirp_code: str, http_status: int, message: str) -> None:
        super().__init__(message)
        self.twirp_code = twirp_code
        self.http_status = http_status

    @property
    def code(self) -> str:  # type: ignore[override]
        return f"livekit_{self.twirp_code}"


class EgressUnknownToLiveKit(LiveKitRejected):
    pass


class EgressAlreadyEnded(LiveKitRejected):
    pass


class LiveKitUnavailable(LiveKitError):
    code = "livekit_unavailable"


class StorageUnavailable(OrchestratorError):
    """The recordings' storage (S3 or the local volume) could not be reached; retried later (503)."""

    code = "storage_unavailable"
