/* Live mode: joins the room as the egress recorder with livekit-client (window.LivekitClient)
 * and feeds the stage. Every subscribed audio track plays, whatever is shown. */
(function (global) {
  "use strict";

  var LK = global.LivekitClient;
  var app = global.EgressLayout;
  var config = app.config;
  var options = config.options || {};
  var Source = LK.Track.Source;
  var Kind = LK.ParticipantKind || {};
  var HIDDEN_KINDS = [Kind.AGENT === undefined ? 4 : Kind.AGENT, Kind.EGRESS === undefined ? 2 : Kind.EGRESS];

  if (LK.setLogLevel) LK.setLogLevel("warn");
  var stage = app.createStage();
  var room = new LK.Room({ adaptiveStream: false, dynacast: false });
  var connected = false; // END_RECORDING only ends a session that began
  var audioRoot = document.getElementById("audio");
  var audioElements = {}; // track sid -> {track, element}
  var joinOrder = {}; // identity -> sequence number
  var joinSeq = 0;

  function trackSource(track) {
    return {
      attach: function (video) { track.attach(video); },
      detach: function (video) { track.detach(video); },
    };
  }
  var sources = new WeakMap(); // one source object per track keeps tiles from re-attaching

  function sourceFor(track) {
    if (!track) return null;
    var s = sources.get(track);
    if (!s) {
      s = trackSource(track);
      sources.set(track, s);
    }
    return s;
  }

  function isShown(p) {
    if (options.show_agents) return true;
    return HIDDEN_KINDS.indexOf(p.kind) < 0 && !p.isAgent;
  }

  function remoteParticipants() {
    var list = Array.from(room.remoteParticipants.values());
    list.forEach(function (p) {
      if (!(p.identity in joinOrder)) joinOrder[p.identity] = joinSeq++;
    });
    return list.sort(function (a, b) { return joinOrder[a.identity] - joinOrder[b.identity]; });
  }

  function buildModel() {
    var participants = [];
    var screens = [];
    remoteParticipants().forEach(function (p) {
      if (!isShown(p)) return;
      var pubs = Array.from(p.trackPublications.values());
      var name = p.name || p.identity;
      pubs.forEach(function (pub) {
        if (pub.source === Source.ScreenShare && pub.track && pub.isSubscribed && !pub.isMuted) {
          screens.push({ key: pub.trackSid, id: p.identity, name: name, source: sourceFor(pub.track) });
        }
      });
      if (!pubs.length && !options.show_non_publishing) return;
      var cam = p.getTrackPublication(Source.Camera);
      var camTrack = cam && cam.isSubscribed ? cam.track : null;
      var dims = cam && cam.dimensions;
      participants.push({
        id: p.identity,
        name: name,
        camera: sourceFor(camTrack),
        cameraMuted: !camTrack || cam.isMuted,
        speaking: p.isSpeaking,
        lastSpokeAt: p.lastSpokeAt ? p.lastSpokeAt.getTime() : 0,
        portrait: !!dims && dims.height > dims.width,
      });
    });
    return { participants: participants, screens: screens };
  }

  // Every subscribed audio track (microphones and screen-share audio) gets an <audio>,
  // independent of tiles; it goes away with its subscription or publication.
  function syncAudio() {
    var wanted = {};
    room.remoteParticipants.forEach(function (p) {
      p.trackPublications.forEach(function (pub) {
        if (pub.kind === LK.Track.Kind.Audio && pub.track && pub.isSubscribed) wanted[pub.trackSid] = pub.track;
      });
    });
    Object.keys(audioElements).forEach(function (sid) {
      var entry = audioElements[sid];
      if (wanted[sid] !== entry.track) {
        entry.track.detach(entry.element);
        entry.element.remove();
        delete audioElements[sid];
      }
    });
    Object.keys(wanted).forEach(function (sid) {
      if (audioElements[sid]) return;
      var element = wanted[sid].attach();
      element.dataset.trackSid = sid;
      audioRoot.appendChild(element);
      audioElements[sid] = { track: wanted[sid], element: element };
    });
  }

  var scheduled = false;
  function scheduleSync() {
    if (scheduled) return;
    scheduled = true;
    Promise.resolve().then(function () {
      scheduled = false;
      syncAudio();
      stage.update(buildModel());
    });
  }

  function subscribedTracks() {
    var tracks = [];
    room.remoteParticipants.forEach(function (p) {
      p.trackPublications.forEach(function (pub) {
        if (pub.track && pub.isSubscribed) tracks.push(pub.track);
      });
    });
    return tracks;
  }

  function framesDecoded(track) {
    return track.getRTCStatsReport().then(function (report) {
      var decoded = false;
      if (report) report.forEach(function (s) { if (s.type === "inbound-rtp" && s.framesDecoded > 0) decoded = true; });
      return decoded;
    }, function () { return false; });
  }

  var signal = new app.RecordingSignal(function () {
    if (room.state !== LK.ConnectionState.Connected) return null;
    var tracks = subscribedTracks();
    var videos = tracks.filter(function (t) { return t.kind === LK.Track.Kind.Video; });
    return Promise.all(videos.map(framesDecoded)).then(function (flags) {
      return { videos: videos.length, subscriptions: tracks.length, decoded: flags.indexOf(true) >= 0 };
    });
  });
  stage.onFrame = function () { signal.frameDecoded(); };

  function onRecorderMetadata() {
    var layout = app.layoutFromMetadata(room.localParticipant.metadata);
    if (layout) stage.setLayout(layout);
  }

  var E = LK.RoomEvent;
  [
    E.ParticipantConnected, E.ParticipantDisconnected, E.TrackSubscribed, E.TrackUnsubscribed,
    E.TrackPublished, E.TrackUnpublished, E.TrackMuted, E.TrackUnmuted, E.ParticipantNameChanged,
    E.TrackStreamStateChanged,
  ].forEach(function (name) { if (name) room.on(name, scheduleSync); });
  room.on(E.ActiveSpeakersChanged, function (speakers) {
    stage.model = buildModel();
    stage.setSpeakers(speakers.filter(function (p) { return p !== room.localParticipant; }).map(function (p) { return p.identity; }));
  });
  room.on(E.ParticipantMetadataChanged, function (_metadata, participant) {
    if (participant === room.localParticipant) onRecorderMetadata();
  });
  room.localParticipant.on(LK.ParticipantEvent.ParticipantMetadataChanged, onRecorderMetadata);
  room.on(E.Connected, function () { connected = true; });
  room.on(E.Disconnected, function () {
    scheduleSync();
    if (connected) signal.end();
  });

  var CONNECT_ATTEMPTS = 3;
  function connect(attempt) {
    return room.connect(config.url, config.token, { autoSubscribe: true }).then(
      function () {
        onRecorderMetadata();
        scheduleSync();
      },
      function (err) {
        console.error("layout: could not connect (attempt " + attempt + "): " + (err && err.message));
        if (attempt < CONNECT_ATTEMPTS) {
          return new Promise(function (r) { setTimeout(r, 1000 * attempt); }).then(function () { return connect(attempt + 1); });
        }
        // Too late for egress's div.error check; it stops on StopEgress or a session limit.
        document.documentElement.dataset.connection = "failed";
        return undefined;
      }
    );
  }
  global.EgressLayoutRoom = room;
  connect(1);
})(window);
