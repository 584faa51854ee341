"""Stored error strings as plain sentences (domain/explain.py), checked against the strings the code really stores."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrator.domain.egress import start_deadline_reason
from orchestrator.domain.explain import explain
from orchestrator.domain.requests import NO_STORAGE
from orchestrator.domain.runs import WAITING_FOR_PUBLISHER, judge_preflight
from orchestrator.sandbox.worker import ROOM_CONNECTION_FAILED, RTMP_REFUSED, UPLOAD_FAILED
from orchestrator.sandbox_restart import SANDBOX_RESTARTED
from orchestrator.services.egresses import LOST


@pytest.mark.parametrize(("stored", "status", "sentence"), [
    (RTMP_REFUSED, "failed", "The destination refused the stream (check the stream key and the RTMP URL)."),
    (ROOM_CONNECTION_FAILED, "failed", "The egress lost its connection to the room."),
    (UPLOAD_FAILED, "failed", "The recording could not be written to storage (check the bucket and its credentials)."),
    (LOST, "failed", "LiveKit lost the egress (its egress worker or server may have restarted)."),
    (SANDBOX_RESTARTED, "failed", "The sandbox LiveKit was restarted; its egresses do not survive a restart."),
    (start_deadline_reason(timedelta(seconds=60)), "failed",
     "The egress never started: nobody was publishing in the room, or the layout page never said it was ready."),
    ("Start signal not received", "aborted",
     "The egress never started: nobody was publishing in the room, or the layout page never said it was ready."),
    ("no publisher joined before the end time", "failed", "Nobody published in the room before the deadline."),
    (WAITING_FOR_PUBLISHER, "starting", "Nobody published in the room before the deadline."),
    ("LiveKit refused the start: room not found", "failed", "LiveKit refused to start the egress."),
    ("could not start: connection refused", "failed", "LiveKit could not be reached to start the egress."),
    ("Session limit reached", "limit_reached", "LiveKit's time limit for one egress was reached."),
    ("the room ended while its start call was out; stopped", "failed",
     "The room ended while the recording was starting."),
    ("participant bob not found", "failed", "The participant or track to record was not in the room."),
    (NO_STORAGE, "failed", "Nowhere to keep recordings: the service has no storage configured."),
    ("missed: the service was not running at the planned start (late by 900 s, beyond the misfire grace)",
     "missed", "The service was not running at the planned start."),
])
def test_known_errors_read_as_sentences_and_keep_the_stored_text(stored: str, status: str, sentence: str) -> None:
    got = explain(stored, status)
    assert got.summary == sentence
    assert got.detail == stored


def test_a_failed_preflight_says_so_with_its_reasons() -> None:
    outcome = judge_preflight([{"check": "rtmp mux", "ok": False, "detail": "handshake timed out"}], True)
    got = explain(outcome.error, "failed")
    assert got.summary == "The preflight check failed before the start."
    assert "handshake timed out" in got.detail


@pytest.mark.parametrize(("status", "sentence"), [
    ("failed", "The egress failed."),
    ("aborted", "The egress was aborted before it started."),
    ("limit_reached", "LiveKit's time limit for one egress was reached."),
    ("missed", "The service was not running at the planned start."),
])
def test_a_bare_status_gets_a_sentence_of_its_own(status: str, sentence: str) -> None:
    assert explain("", status).summary == sentence
    assert explain(status).summary == sentence
    assert explain("", status).detail == ""


def test_an_unknown_error_is_shown_as_it_is_after_a_generic_sentence() -> None:
    got = explain("pipeline exploded: gst error 42", "failed")
    assert got.summary == "The egress failed."
    assert got.detail == "pipeline exploded: gst error 42"
    assert explain("weird", "whatever").summary == "It failed."
