"""Why a recording is missing, deleted or partial (domain/recording_reasons.py), from the reasons the code stores."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from orchestrator.domain.egress import EgressStatus
from orchestrator.domain.recording_reasons import EgressOutcome, explain_recording
from orchestrator.domain.recordings import (
    ObjectHead,
    Recording,
    RecordingKind,
    RecordingStatus,
    StorageKind,
    verification,
)
from orchestrator.sandbox.worker import ROOM_CONNECTION_FAILED, UPLOAD_FAILED

NOW = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)
REC = Recording(id="rec_1", egress_pk="eg_1", egress_id="EG_1", part=0, kind=RecordingKind.FILE,
                storage=StorageKind.LOCAL, bucket="", key="demo/talk.mp4", status=RecordingStatus.READY,
                created_at=NOW, updated_at=NOW, size_bytes=1000)


def with_status(status: RecordingStatus, reason: str = "", **changes: object) -> Recording:
    return dataclasses.replace(REC, status=status, reason=reason, **changes)  # type: ignore[arg-type]


def test_a_ready_recording_of_a_normal_egress_needs_no_explanation() -> None:
    assert explain_recording(REC).summary == ""
    assert explain_recording(REC, EgressOutcome(EgressStatus.COMPLETE)).summary == ""


def test_a_missing_file_as_verification_stores_it() -> None:
    status, reason = verification(REC, None)
    said = explain_recording(with_status(status, reason))
    assert said.summary == "The file was not found in storage when it was verified."
    assert said.detail == "file 'demo/talk.mp4' on the recordings volume does not exist"


def test_an_incomplete_upload_says_how_much_arrived() -> None:
    status, reason = verification(REC, ObjectHead(size=400))
    said = explain_recording(with_status(status, reason))
    assert said.summary == ("The file in storage is incomplete: it has 400 of the 1,000 bytes LiveKit reported, "
                            "so the upload did not finish.")


@pytest.mark.parametrize(("error", "summary"), [
    (UPLOAD_FAILED, "The egress failed before writing a whole file: the recording could not be written to storage "
                    "(check the bucket and its credentials)."),
    ("", "The egress failed before writing a whole file: LiveKit gave no reason."),
    ("pipeline exploded", "The egress failed before writing a whole file: pipeline exploded."),
])
def test_a_missing_file_of_a_failed_egress_gives_the_egress_reason(error: str, summary: str) -> None:
    status, reason = verification(REC, None)
    said = explain_recording(with_status(status, reason), EgressOutcome(EgressStatus.FAILED, error))
    assert said.summary == summary
    assert said.detail == (UPLOAD_FAILED if error == UPLOAD_FAILED else "")


def test_a_ready_file_of_a_failed_egress_is_partial() -> None:
    said = explain_recording(REC, EgressOutcome(EgressStatus.FAILED, ROOM_CONNECTION_FAILED))
    assert said.summary == ("The egress failed while recording. The egress lost its connection to the room. "
                            "The file holds what was written until then.")
    assert said.detail == ROOM_CONNECTION_FAILED


@pytest.mark.parametrize(("reason", "summary"), [
    ("retention: older than 30 days", "Deleted by retention after 30 days."),
    ("retention: older than 0.5 days", "Deleted by retention after 0.5 days."),
    ("retention: older than 1 days", "Deleted by retention after 1 day."),
    ("deleted by alice", "Deleted by alice."),
    ("deleted by alice: 1 object(s) deleted", "Deleted by alice."),
    ("deleted through the API", "Deleted through the API."),
    ("", "Deleted."),
])
def test_why_a_recording_was_deleted(reason: str, summary: str) -> None:
    said = explain_recording(with_status(RecordingStatus.DELETED, reason))
    assert (said.summary, said.detail) == (summary, "")


def test_a_recording_being_checked() -> None:
    assert explain_recording(with_status(RecordingStatus.VERIFYING)).summary == (
        "The file is being checked in storage; it can be played once it is found whole.")
    assert "3 attempts so far" in explain_recording(with_status(RecordingStatus.VERIFYING, check_attempts=3)).summary


@pytest.mark.parametrize(("reason", "actor", "summary"), [
    ("deleted through the API", "ci-key", "Deleted by ci-key through the API."),
    ("deleted through the API", "system", "Deleted through the API."),
    ("deleted by alice", "alice", "Deleted by alice."),
    ("retention: older than 30 days", "system", "Deleted by retention after 30 days."),
    ("studio cleanup", "bob", "Deleted by bob: studio cleanup."),
])
def test_who_deleted_it(reason: str, actor: str, summary: str) -> None:
    said = explain_recording(with_status(RecordingStatus.DELETED, reason), deleted_by=actor)
    assert said.summary == summary
