/* Preview mode: the same stage fed with synthetic participants whose "cameras" are canvases
 * captured as video streams. No LiveKit. window.__layoutPreview is a test hook. */
(function (global) {
  "use strict";

  var app = global.EgressLayout;
  var preview = app.config.preview || {};
  var NAMES = [
    "Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Linus Torvalds",
    "Margaret Hamilton", "Tim Berners-Lee", "Radia Perlman", "Dennis Ritchie", "Barbara Liskov",
    "Ken Thompson", "Frances Allen", "Donald Knuth", "Hedy Lamarr", "John McCarthy", "Sophie Wilson",
  ];
  var CAMERA_OFF_EVERY = 4; // every fourth participant has the camera off (shows name + initials)

  var stage = app.createStage();
  if (preview.width && preview.height) stage.fixedSize = { width: preview.width, height: preview.height };

  var canvases = [];

  function canvasSource(width, height, draw) {
    var canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    var ctx = canvas.getContext("2d");
    canvases.push({ ctx: ctx, draw: draw, width: width, height: height });
    draw(ctx, width, height, 0);
    var stream = canvas.captureStream(10);
    return {
      attach: function (video) { video.srcObject = stream; },
      detach: function (video) { video.srcObject = null; },
    };
  }

  function drawCamera(hue, name) {
    return function (ctx, w, h, t) {
      var g = ctx.createLinearGradient(0, 0, w, h);
      g.addColorStop(0, "hsl(" + hue + ",55%,32%)");
      g.addColorStop(1, "hsl(" + ((hue + 40) % 360) + ",55%,18%)");
      ctx.fillStyle = g;
      ctx.fillRect(0, 0, w, h);
      var bob = Math.sin(t / 600 + hue) * 6;
      ctx.fillStyle = "hsl(" + hue + ",40%,75%)";
      ctx.beginPath();
      ctx.arc(w / 2, h * 0.42 + bob, h * 0.17, 0, Math.PI * 2);
      ctx.fill();
      ctx.beginPath();
      ctx.ellipse(w / 2, h * 0.95 + bob, w * 0.22, h * 0.3, 0, 0, Math.PI * 2);
      ctx.fill();
      ctx.fillStyle = "rgba(255,255,255,0.85)";
      ctx.font = "bold " + Math.round(h / 12) + "px sans-serif";
      ctx.textAlign = "center";
      ctx.fillText(name, w / 2, h / 9);
    };
  }

  function drawScreen(index, owner) {
    return function (ctx, w, h, t) {
      ctx.fillStyle = "#f4f1ea";
      ctx.fillRect(0, 0, w, h);
      ctx.fillStyle = "#1f3b57";
      ctx.fillRect(0, 0, w, h / 7);
      ctx.fillStyle = "#fff";
      ctx.font = "bold " + Math.round(h / 14) + "px sans-serif";
      ctx.textAlign = "left";
      ctx.fillText("Slide " + (index + 1) + " \u2014 shared by " + owner, w / 24, h / 10);
      var bars = [0.6, 0.85, 0.4, 0.7, 0.55];
      for (var i = 0; i < bars.length; i++) {
        var grow = 0.9 + 0.1 * Math.sin(t / 500 + i);
        ctx.fillStyle = "hsl(" + (200 + i * 25) + ",60%,45%)";
        var bh = bars[i] * h * 0.6 * grow;
        ctx.fillRect(w * (0.1 + i * 0.16), h * 0.92 - bh, w * 0.1, bh);
      }
    };
  }

  var count = preview.participants || 0;
  var sharers = Math.min(preview.screenshare || 0, count);
  var speaking = preview.speaking;
  var now = Date.now();
  var participants = [];
  var screens = [];
  for (var i = 0; i < count; i++) {
    var name = NAMES[i % NAMES.length] + (i >= NAMES.length ? " " + (Math.floor(i / NAMES.length) + 1) : "");
    var id = "p" + (i + 1);
    var cameraOn = (i + 1) % CAMERA_OFF_EVERY !== 0;
    participants.push({
      id: id,
      name: name,
      camera: cameraOn ? canvasSource(320, 180, drawCamera((i * 47) % 360, name)) : null,
      cameraMuted: !cameraOn,
      speaking: i === speaking,
      lastSpokeAt: i === speaking ? now : 0,
      portrait: false,
    });
    if (i < sharers) {
      screens.push({ key: "screen-" + id, id: id, name: name + " (screen)", source: canvasSource(960, 540, drawScreen(i, name)) });
    }
  }

  // Like live mode's stats poll, any captured canvas counts as decoded video, shown or not
  // (the active speaker may have the camera off while others have theirs on).
  var hasVideo = canvases.length > 0;
  var signal = new app.RecordingSignal(function () {
    return { videos: hasVideo ? 1 : 0, subscriptions: count, decoded: hasVideo };
  });
  stage.onFrame = function () { signal.frameDecoded(); };
  stage.update({ participants: participants, screens: screens });
  if (speaking !== null && speaking !== undefined && participants[speaking]) stage.setSpeakers([participants[speaking].id]);

  setInterval(function () {
    var t = performance.now();
    canvases.forEach(function (c) { c.draw(c.ctx, c.width, c.height, t); });
  }, 100);

  global.__layoutPreview = {
    stage: stage,
    // Simulates UpdateLayout: the recorder's own participant metadata changes.
    setRecorderMetadata: function (metadata) {
      var layout = app.layoutFromMetadata(metadata);
      if (layout) stage.setLayout(layout);
      return stage.layout;
    },
    disconnect: function () { signal.end(); },
  };
})(window);
