"""Live mode (live.js) in Chromium with the real livekit-client Room.

There is no LiveKit media server on this machine, so the page's Room never connects; the
tests put stand-in remote participants into that Room, with real MediaStreamTracks wrapped in
livekit-client's own RemoteVideoTrack/RemoteAudioTrack, and emit the Room's own events.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

pytestmark = pytest.mark.browser

# Adds window.fakeRoom with join/leave/share/unshare helpers on top of the page's Room.
FAKE_ROOM = """() => {
  const LK = window.LivekitClient, room = window.EgressLayoutRoom, S = LK.Track.Source;
  const canvas = document.createElement('canvas'); canvas.width = 64; canvas.height = 36;
  canvas.getContext('2d').fillRect(0, 0, 64, 36);
  const videoStream = canvas.captureStream(5);
  const audioCtx = new AudioContext();
  let seq = 0;
  const pub = (source, kind, track) => ({source, kind, track, trackSid: 'TR_' + (++seq),
    isSubscribed: true, isMuted: false, dimensions: {width: 64, height: 36}});
  const video = () => new LK.RemoteVideoTrack(
    videoStream.getVideoTracks()[0].clone(), 'v' + (++seq), undefined);
  const audio = () => new LK.RemoteAudioTrack(
    audioCtx.createMediaStreamDestination().stream.getAudioTracks()[0], 'a' + (++seq), undefined);
  const make = (identity, opts) => {
    const pubs = new Map();
    const add = (p) => { pubs.set(p.trackSid, p); return p; };
    if (opts.camera) add(pub(S.Camera, 'video', video()));
    if (opts.mic) add(pub(S.Microphone, 'audio', audio()));
    return {identity, name: opts.name || identity, kind: opts.kind || 0, isAgent: opts.kind === 4,
      isSpeaking: false, lastSpokeAt: undefined, trackPublications: pubs,
      getTrackPublication: (s) => Array.from(pubs.values()).find(p => p.source === s)};
  };
  window.fakeRoom = {
    join(identity, opts) {
      const p = make(identity, opts); room.remoteParticipants.set(identity, p);
      room.emit(LK.RoomEvent.ParticipantConnected, p); return identity;
    },
    leave(identity) {
      const p = room.remoteParticipants.get(identity); room.remoteParticipants.delete(identity);
      room.emit(LK.RoomEvent.ParticipantDisconnected, p);
    },
    share(identity) {
      const p = room.remoteParticipants.get(identity);
      const tracks = [[S.ScreenShare, 'video', video()], [S.ScreenShareAudio, 'audio', audio()]];
      for (const [source, kind, track] of tracks) {
        const pb = pub(source, kind, track); p.trackPublications.set(pb.trackSid, pb);
        room.emit(LK.RoomEvent.TrackSubscribed, track, pb, p);
      }
    },
    unshare(identity) {
      const p = room.remoteParticipants.get(identity);
      for (const [sid, pb] of p.trackPublications) {
        if (pb.source === S.ScreenShare || pb.source === S.ScreenShareAudio) {
          p.trackPublications.delete(sid); room.emit(LK.RoomEvent.TrackUnpublished, pb, p);
        }
      }
    },
    speak(identity) {
      const p = room.remoteParticipants.get(identity); p.lastSpokeAt = new Date(); p.isSpeaking = true;
      room.emit(LK.RoomEvent.ActiveSpeakersChanged, [p]);
    },
    state() {
      const tiles = Array.from(document.querySelectorAll('#stage .tile')).map(t =>
        [t.dataset.kind, t.dataset.participant || '', t.innerText.trim()]);
      const audios = document.querySelectorAll('#audio audio').length;
      return {tiles, audios, layout: document.documentElement.dataset.layout,
              arrangement: document.getElementById('stage').dataset.arrangement};
    },
  };
}"""


@pytest.fixture
def live(browser: Any, layouts_server: str, silent_ws_url: str) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 720}, reduced_motion="reduce")
    page = context.new_page()
    console: list[str] = []
    errors: list[str] = []
    page.on("console", lambda msg: console.append(msg.text))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    query = urlencode({"url": silent_ws_url, "token": "e30.e30.sig", "layout": "gallery"})
    page.goto(f"{layouts_server}/layouts/gallery?{query}")
    page.wait_for_function("window.EgressLayoutRoom !== undefined")
    page.evaluate(FAKE_ROOM)

    class Live:
        def call(self, method: str, *args: object) -> Any:
            result = page.evaluate(f"args => window.fakeRoom.{method}(...args)", list(args))
            page.wait_for_timeout(30)
            return result

        def state(self) -> dict[str, Any]:
            return page.evaluate("() => window.fakeRoom.state()")

    live = Live()
    live.page, live.console, live.errors = page, console, errors  # type: ignore[attr-defined]
    yield live
    assert not errors
    context.close()


def test_audio_plays_for_everyone_beyond_the_tile_limit(live: Any) -> None:
    for i in range(12):
        live.call("join", f"p{i}", {"camera": True, "mic": True, "name": f"Person {i}"})
    state = live.state()
    assert state["audios"] == 12, "every microphone plays, tiles or not"
    kinds = [t[0] for t in state["tiles"]]
    assert kinds.count("camera") == 9 and kinds.count("overflow") == 1
    assert ["overflow", "", "+3"] in state["tiles"]
    live.call("speak", "p11")
    shown = {t[1] for t in live.state()["tiles"] if t[0] == "camera"}
    assert "p11" in shown, "the most recent speaker gets a tile"


def test_agents_and_egress_hidden_but_heard(live: Any) -> None:
    live.call("join", "alice", {"camera": True, "mic": True})
    live.call("join", "agent-1", {"camera": True, "mic": True, "kind": 4})
    live.call("join", "EG_recorder", {"camera": False, "mic": False, "kind": 2})
    live.call("join", "listener", {"camera": False, "mic": False})
    state = live.state()
    assert [t[1] for t in state["tiles"]] == ["alice"], "agents, egress and non-publishers have no tile"
    assert state["audios"] == 2


def test_camera_off_tile_keeps_the_name(live: Any) -> None:
    live.call("join", "bob", {"camera": False, "mic": True, "name": "Bob Builder"})
    assert live.state()["tiles"] == [["camera", "bob", "BB\nBob Builder"]]


def test_several_screen_shares_and_their_audio_goes_with_them(live: Any) -> None:
    for name in ("a", "b", "c"):
        live.call("join", name, {"camera": True, "mic": True})
    live.call("share", "a")
    live.call("share", "b")
    state = live.state()
    assert [t[1] for t in state["tiles"] if t[0] == "screen"] == ["a", "b"]
    assert state["arrangement"] == "gallery-screens"
    assert state["audios"] == 5
    live.call("unshare", "a")
    state = live.state()
    assert [t[1] for t in state["tiles"] if t[0] == "screen"] == ["b"]
    assert state["audios"] == 4, "screen-share audio stops with the share"
    live.call("leave", "b")
    state = live.state()
    assert state["audios"] == 2 and state["arrangement"] == "gallery"


def test_recorder_metadata_switches_layout_and_disconnect_ends_recording(live: Any) -> None:
    live.call("join", "alice", {"camera": True, "mic": True})
    live.page.evaluate(
        """m => { const room = window.EgressLayoutRoom, LK = window.LivekitClient;
                  room.localParticipant.metadata = m;
                  room.localParticipant.emit(LK.ParticipantEvent.ParticipantMetadataChanged, ''); }""",
        json.dumps({"layout": "crop"}),
    )
    assert live.state()["layout"] == "crop"
    emit = "name => window.EgressLayoutRoom.emit(window.LivekitClient.RoomEvent[name])"
    live.page.evaluate(emit, "Disconnected")
    live.page.wait_for_timeout(100)
    assert "END_RECORDING" not in live.console, "a room that never connected ends nothing"
    live.page.evaluate(emit, "Connected")
    live.page.evaluate(emit, "Disconnected")
    live.page.wait_for_function("document.documentElement.dataset.recording === 'ended'")
    # alice's camera frame reached her tile, so recording had started.
    signals = [line for line in live.console if line.endswith("_RECORDING")]
    assert signals == ["START_RECORDING", "END_RECORDING"]
