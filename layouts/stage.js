/* The stage: renders a participant model into positioned tiles, plus the recording signal
 * and the layout switch driven by the recorder's metadata. Shared by live.js and preview.js. */
(function (global) {
  "use strict";

  var geometry = global.EgressLayoutGeometry;
  var configNode = document.getElementById("layout-config");
  var config = configNode ? JSON.parse(configNode.textContent) : {};

  function initials(name) {
    var parts = String(name || "?").trim().split(/\s+/).filter(Boolean);
    var text = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : (parts[0] || "?").slice(0, 2);
    return text.toUpperCase();
  }

  function el(tag, className) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    return node;
  }

  /* START_RECORDING once there is something to show; END_RECORDING once, on disconnect.
   * probe() returns {videos, subscriptions, decoded} and is polled every 100 ms. */
  function RecordingSignal(probe) {
    this.started = false;
    this.ended = false;
    this.t0 = performance.now();
    this.probe = probe;
    var self = this;
    this.timer = setInterval(function () { self.poll(); }, 100);
  }
  RecordingSignal.AUDIO_ONLY_MS = 500;
  RecordingSignal.TIMEOUT_MS = 5000;
  RecordingSignal.prototype.start = function (reason) {
    if (this.started || this.ended) return;
    this.started = true;
    clearInterval(this.timer);
    document.documentElement.dataset.recording = "started";
    document.documentElement.dataset.startReason = reason;
    document.documentElement.dataset.startMs = String(Math.round(performance.now()));
    console.log("START_RECORDING");
  };
  RecordingSignal.prototype.frameDecoded = function () { this.start("frame"); };
  RecordingSignal.prototype.end = function () {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.timer);
    document.documentElement.dataset.recording = "ended";
    console.log("END_RECORDING");
  };
  RecordingSignal.prototype.poll = function () {
    var self = this;
    var elapsed = performance.now() - this.t0;
    Promise.resolve(this.probe()).then(function (s) {
      if (!s) return;
      if (s.decoded) self.start("frame");
      else if (s.videos === 0 && s.subscriptions > 0 && elapsed >= RecordingSignal.AUDIO_ONLY_MS) self.start("audio-only");
      else if (s.subscriptions > 0 && elapsed >= RecordingSignal.TIMEOUT_MS) self.start("timeout");
    }, function () {});
  };

  /* Resolves a layout name from the query, the metadata or an alias; null if unknown. */
  function resolveLayout(name) {
    if (typeof name !== "string" || !name) return null;
    if ((config.layouts || []).indexOf(name) >= 0) return name;
    var aliases = config.aliases || {};
    return Object.prototype.hasOwnProperty.call(aliases, name) ? aliases[name] : null;
  }

  /* Parses recorder metadata ({"layout": "..."}) and returns the layout to switch to, or null. */
  function layoutFromMetadata(metadata) {
    if (!metadata) return null;
    try {
      var data = JSON.parse(metadata);
      if (!data || typeof data.layout !== "string" || !data.layout) return null;
      var resolved = resolveLayout(data.layout);
      if (!resolved) console.warn("ignoring unknown layout in metadata: " + data.layout);
      return resolved;
    } catch (e) {
      console.warn("ignoring recorder metadata that is not JSON");
      return null;
    }
  }

  /* Stage(root, options). Model: {participants: [{id, name, camera, cameraMuted, speaking,
   * lastSpokeAt, portrait}], screens: [{key, id, name, source}]}. A source has
   * attach(videoElement) and detach(videoElement). */
  function Stage(root, options) {
    this.root = root;
    this.options = options || {};
    this.layout = "gallery";
    this.model = { participants: [], screens: [] };
    this.activeId = null;
    this.tiles = {};
    this.onFrame = null;
    this.fixedSize = null;
    this.rendered = false;
    var self = this;
    this.tileLayer = el("div", "tiles");
    root.appendChild(this.tileLayer);
    if (this.options.title) {
      var title = el("div", "title");
      title.textContent = this.options.title;
      root.appendChild(title);
    }
    this.applyBackground(this.options.background);
    global.addEventListener("resize", function () { self.render(); });
  }

  Stage.prototype.applyBackground = function (bg) {
    if (!bg) return;
    if (/^https?:\/\//i.test(bg)) this.root.style.backgroundImage = "url(" + JSON.stringify(bg) + ")";
    else this.root.style.backgroundColor = bg;
  };

  Stage.prototype.setLayout = function (name) {
    if (!name || name === this.layout) return;
    this.layout = name;
    document.documentElement.dataset.layout = name;
    this.render();
  };

  Stage.prototype.size = function () {
    if (this.fixedSize) return this.fixedSize;
    return { width: global.innerWidth, height: global.innerHeight };
  };

  Stage.prototype.update = function (model) {
    this.model = model;
    this.chooseActive(null);
    this.render();
  };

  /* Sticky active speaker: keep the current one while they still speak; else the first
   * speaker; with nobody speaking keep the current one; fall back to a screen sharer, then
   * a participant with a camera, then the first participant. */
  Stage.prototype.chooseActive = function (speakerIds) {
    var ids = this.model.participants.map(function (p) { return p.id; });
    var current = this.activeId;
    if (speakerIds && speakerIds.length) {
      var speaking = speakerIds.filter(function (id) { return ids.indexOf(id) >= 0; });
      if (speaking.length && speaking.indexOf(current) < 0) current = speaking[0];
    }
    if (ids.indexOf(current) < 0) {
      var sharer = this.model.screens.length ? this.model.screens[0].id : null;
      var withCam = this.model.participants.filter(function (p) { return p.camera && !p.cameraMuted; })[0];
      current = ids.indexOf(sharer) >= 0 ? sharer : withCam ? withCam.id : ids[0] || null;
    }
    this.activeId = current;
  };

  Stage.prototype.setSpeakers = function (speakerIds) {
    this.chooseActive(speakerIds);
    this.render();
  };

  Stage.prototype.render = function () {
    var size = this.size();
    var root = this.root;
    root.style.width = size.width + "px";
    root.style.height = size.height + "px";
    var byId = {};
    this.model.participants.forEach(function (p) { byId[p.id] = p; });
    var screensById = {};
    this.model.screens.forEach(function (s) { screensById["scr:" + s.key] = s; });
    var result = geometry.computeLayout(this.layout, size.width, size.height, {
      participants: this.model.participants,
      screens: this.model.screens,
      activeId: this.activeId,
    });
    root.dataset.orientation = result.orientation;
    root.dataset.arrangement = result.arrangement;
    var large = !this.model.screens.length && result.slots.length <= 4 && result.orientation === "landscape";
    var scale = Math.max(0.5, Math.min(size.width, size.height) / 1080);
    root.style.setProperty("--label-size", Math.round((large ? 28 : 24) * scale) + "px");
    var seen = {};
    for (var i = 0; i < result.slots.length; i++) {
      var s = result.slots[i];
      seen[s.key] = true;
      var tile = this.tiles[s.key] || this.createTile(s);
      this.tiles[s.key] = tile;
      tile.node.style.left = s.x + "px";
      tile.node.style.top = s.y + "px";
      tile.node.style.width = s.w + "px";
      tile.node.style.height = s.h + "px";
      tile.node.dataset.layer = s.layer;
      if (s.kind === "camera") this.fillCamera(tile, byId[s.id], s.id === this.activeId);
      else if (s.kind === "screen") this.fillScreen(tile, screensById[s.key]);
      else tile.label.textContent = "+" + s.count;
    }
    for (var key in this.tiles) {
      if (!seen[key]) {
        this.setSource(this.tiles[key], null);
        this.tiles[key].node.remove();
        delete this.tiles[key];
      }
    }
    if (!this.rendered && result.slots.length) {
      this.rendered = true;
      var self = this;
      requestAnimationFrame(function () { self.root.classList.add("animate"); });
    }
  };

  Stage.prototype.createTile = function (s) {
    var node = el("div", "tile " + s.kind);
    node.dataset.key = s.key;
    node.dataset.kind = s.kind;
    var tile = { node: node, video: null, source: null };
    if (s.kind === "overflow") {
      tile.label = el("div", "overflow-count");
      node.appendChild(tile.label);
    } else {
      tile.video = el("video");
      tile.video.muted = true;
      tile.video.autoplay = true;
      tile.video.playsInline = true;
      node.appendChild(tile.video);
      if (s.kind === "camera") {
        tile.placeholder = el("div", "placeholder");
        tile.avatar = el("div", "avatar");
        tile.placeholder.appendChild(tile.avatar);
        node.appendChild(tile.placeholder);
      }
      tile.name = el("div", "name");
      if (this.options.show_names === false) tile.name.hidden = true;
      node.appendChild(tile.name);
    }
    this.tileLayer.appendChild(node);
    return tile;
  };

  Stage.prototype.setSource = function (tile, source) {
    if (tile.source === source) return;
    if (tile.source) tile.source.detach(tile.video);
    tile.source = source;
    if (!source) return;
    source.attach(tile.video);
    var self = this;
    var video = tile.video;
    var notify = function () { if (self.onFrame) self.onFrame(); };
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(notify);
    else video.addEventListener("loadeddata", notify, { once: true });
    var playing = video.play && video.play();
    if (playing && playing.catch) playing.catch(function () {});
  };

  Stage.prototype.fillCamera = function (tile, p, active) {
    if (!p) return;
    var cameraOn = !!p.camera && !p.cameraMuted;
    this.setSource(tile, p.camera || null);
    tile.video.hidden = !cameraOn;
    tile.placeholder.hidden = cameraOn;
    tile.avatar.textContent = initials(p.name);
    tile.name.textContent = p.name;
    tile.node.dataset.participant = p.id;
    tile.node.classList.toggle("camera-off", !cameraOn);
    tile.node.classList.toggle("speaking", !!p.speaking);
    tile.node.classList.toggle("active", active);
  };

  Stage.prototype.fillScreen = function (tile, screen) {
    if (!screen) return;
    this.setSource(tile, screen.source);
    tile.name.textContent = screen.name;
    tile.node.dataset.participant = screen.id;
  };

  function createStage() {
    var root = document.getElementById("stage");
    var options = config.options || {};
    document.documentElement.classList.add("theme-" + (options.theme || "dark"));
    var stage = new Stage(root, options);
    stage.setLayout(config.layout || "gallery");
    return stage;
  }

  global.EgressLayout = {
    config: config,
    Stage: Stage,
    RecordingSignal: RecordingSignal,
    resolveLayout: resolveLayout,
    layoutFromMetadata: layoutFromMetadata,
    createStage: createStage,
  };
})(window);
