/* Layout geometry for the broadcast layouts: pure functions, no DOM.
 *
 * computeLayout() turns (layout name, viewport, participants, screen shares, active speaker)
 * into absolutely positioned slots. The rules are documented in layouts/README.md
 * ("Geometry"); this file is their only implementation.
 */
(function (global) {
  "use strict";

  var ASPECT_16_9 = 16 / 9;
  var SQUARE_TOLERANCE_PX = 2; // egress may render a viewport 1 px off the preset
  var FILL_TOLERANCE = 0.01; // within 1 % of 16:9 the active tile simply fills the stage
  var MAX_SCREENS = 4;

  // Largest number of slots (tiles incl. the overflow indicator) per arrangement.
  var MAX_SLOTS = {
    gallery: 10,
    "gallery-column": 10,
    "crop-landscape": 10,
    "crop-square": 9,
    "crop-portrait": 8,
  };

  function orientation(width, height) {
    if (Math.abs(width - height) <= SQUARE_TOLERANCE_PX) return "square";
    return width > height ? "landscape" : "portrait";
  }

  function rect(x, y, w, h) {
    return { x: Math.round(x), y: Math.round(y), w: Math.floor(w), h: Math.floor(h) };
  }

  // "Zoom-like gallery": try every column count, keep the largest equal-aspect tile.
  // Sizes are floored: width first when the width limits, height first when the height does.
  function bestGrid(n, width, height, aspect, gap) {
    var best = null;
    for (var cols = 1; cols <= n; cols++) {
      var rows = Math.ceil(n / cols);
      var w = (width - (cols - 1) * gap) / cols;
      var h = w / aspect;
      var tall = h * rows + (rows - 1) * gap > height;
      if (tall) {
        h = (height - (rows - 1) * gap) / rows;
        w = h * aspect;
      }
      if (w <= 0 || h <= 0) continue;
      if (!best || w * h > best.area + 1e-6) {
        best = { cols: cols, rows: rows, area: w * h, w: w, h: h, tall: tall };
      }
    }
    if (!best) return { cols: 1, rows: n, w: 0, h: 0 };
    if (best.tall) {
      best.h = Math.floor(best.h);
      best.w = Math.floor(best.h * aspect);
    } else {
      best.w = Math.floor(best.w);
      best.h = Math.floor(best.w / aspect);
    }
    return best;
  }

  // Places n equal tiles of grid g centred in the box; a partly filled last row is centred.
  function placeGrid(n, box, g, gap) {
    var out = [];
    var blockH = g.rows * g.h + (g.rows - 1) * gap;
    var y0 = box.y + (box.h - blockH) / 2;
    for (var i = 0; i < n; i++) {
      var row = Math.floor(i / g.cols);
      var inRow = Math.min(g.cols, n - row * g.cols);
      var col = i - row * g.cols;
      var rowW = inRow * g.w + (inRow - 1) * gap;
      var x0 = box.x + (box.w - rowW) / 2;
      out.push(rect(x0 + col * (g.w + gap), y0 + row * (g.h + gap), g.w, g.h));
    }
    return out;
  }

  function galleryParams(orient, n) {
    if (orient === "landscape") return { pad: 60, gap: 30, aspect: ASPECT_16_9 };
    if (orient === "square") return { pad: 10, gap: 10, aspect: 1 };
    return { pad: 0, gap: 10, aspect: n <= 4 ? ASPECT_16_9 : 1 };
  }

  // Rows of a crop arrangement: how many tiles in each row, top row fullest.
  function cropRows(orient, n) {
    var rows;
    if (orient === "landscape") rows = n <= 3 ? 1 : 2;
    else if (orient === "square") rows = Math.ceil(Math.sqrt(n));
    else rows = n <= 3 ? n : Math.ceil(n / 2);
    var base = Math.floor(n / rows);
    var extra = n % rows;
    var out = [];
    for (var r = 0; r < rows; r++) out.push(base + (r < extra ? 1 : 0));
    return out;
  }

  function cropRects(orient, n, width, height) {
    var rows = cropRows(orient, n);
    var out = [];
    for (var r = 0; r < rows.length; r++) {
      var top = Math.round((r * height) / rows.length);
      var bottom = Math.round(((r + 1) * height) / rows.length);
      for (var c = 0; c < rows[r]; c++) {
        var left = Math.round((c * width) / rows[r]);
        var right = Math.round(((c + 1) * width) / rows[r]);
        out.push({ x: left, y: top, w: right - left, h: bottom - top });
      }
    }
    return out;
  }

  // Fits a 16:9 box into the stage; a stage within 1 % of 16:9 (or not landscape) is filled.
  function activeRect(orient, width, height) {
    if (orient !== "landscape") return rect(0, 0, width, height);
    var ratio = width / height;
    if (Math.abs(ratio / ASPECT_16_9 - 1) <= FILL_TOLERANCE) return rect(0, 0, width, height);
    if (ratio > ASPECT_16_9) {
      var w = Math.floor(height * ASPECT_16_9);
      return rect((width - w) / 2, 0, w, height);
    }
    var h = Math.floor(width / ASPECT_16_9);
    return rect(0, (height - h) / 2, width, h);
  }

  // Picture-in-picture of the active speaker over the screen share, bottom-right.
  function pipRect(layout, orient, width, height) {
    var s = Math.min(width, height) / 1080;
    var w, h, offset;
    if (orient === "landscape") {
      var k = width / 1920;
      w = 383 * k;
      h = 215.44 * k;
    } else if (orient === "square") {
      w = h = 240 * s;
    } else {
      w = h = 360 * s;
    }
    if (layout === "crop") offset = 0;
    else offset = (orient === "square" ? 60 : 36) * s;
    w = Math.floor(w);
    h = Math.floor(h);
    return rect(width - offset - w, height - offset - h, w, h);
  }

  // Chooses which participants get a tile when there are more than `slots`:
  // the most recent speakers (then join order) keep slots - 1 tiles, one slot says "+N".
  function pickVisible(participants, slots) {
    if (participants.length <= slots) return { visible: participants.slice(), hidden: 0 };
    var keep = slots - 1;
    var ranked = participants
      .map(function (p, i) { return { p: p, i: i }; })
      .sort(function (a, b) {
        var d = (b.p.lastSpokeAt || 0) - (a.p.lastSpokeAt || 0);
        return d !== 0 ? d : a.i - b.i;
      })
      .slice(0, keep)
      .sort(function (a, b) { return a.i - b.i; })
      .map(function (e) { return e.p; });
    return { visible: ranked, hidden: participants.length - keep };
  }

  function cameraSlots(list, rects, layer) {
    var out = [];
    for (var i = 0; i < list.visible.length; i++) {
      out.push(slot("cam:" + list.visible[i].id, "camera", list.visible[i].id, rects[i], layer));
    }
    if (list.hidden > 0) {
      var s = slot("overflow", "overflow", null, rects[list.visible.length], layer);
      s.count = list.hidden;
      out.push(s);
    }
    return out;
  }

  function slot(key, kind, id, r, layer) {
    return { key: key, kind: kind, id: id, x: r.x, y: r.y, w: r.w, h: r.h, layer: layer || "main" };
  }

  function screenSlots(screens, box, gap) {
    var shown = screens.slice(-MAX_SCREENS);
    var g = bestGrid(shown.length, box.w, box.h, ASPECT_16_9, gap);
    var rects = placeGrid(shown.length, box, g, gap);
    return shown.map(function (s, i) { return slot("scr:" + s.key, "screen", s.id, rects[i]); });
  }

  function pickActive(participants, activeId) {
    for (var i = 0; i < participants.length; i++) if (participants[i].id === activeId) return participants[i];
    return participants[0] || null;
  }

  function columnWidth(width, n) {
    var k = Math.min(1, width / 1920);
    return Math.round((n > 5 ? 600 : 400) * k);
  }

  function galleryWithScreens(state, width, height) {
    var pad = 60;
    var gap = 30;
    var list = pickVisible(state.participants, MAX_SLOTS["gallery-column"]);
    var n = list.visible.length + (list.hidden ? 1 : 0);
    var colW = columnWidth(width, state.participants.length);
    var innerH = height - 2 * pad;
    var screensBox = { x: pad, y: pad, w: width - 2 * pad - colW - gap, h: innerH };
    var slots = screenSlots(state.screens, screensBox, gap);
    if (n > 0) {
      var cols = n <= 5 ? 1 : 2;
      var rows = Math.ceil(n / cols);
      var w = (colW - (cols - 1) * gap) / cols;
      var h = w / ASPECT_16_9;
      var g;
      if (rows * h + (rows - 1) * gap > innerH) {
        h = Math.floor((innerH - (rows - 1) * gap) / rows);
        g = { cols: cols, rows: rows, w: Math.floor(h * ASPECT_16_9), h: h };
      } else {
        w = Math.floor(w);
        g = { cols: cols, rows: rows, w: w, h: Math.floor(w / ASPECT_16_9) };
      }
      var colBox = { x: width - pad - colW, y: pad, w: colW, h: innerH };
      slots = slots.concat(cameraSlots(list, placeGrid(n, colBox, g, gap), "main"));
    }
    return slots;
  }

  function screensWithPip(layout, orient, state, width, height) {
    var gap = layout === "crop" ? 0 : 10;
    var slots = screenSlots(state.screens, { x: 0, y: 0, w: width, h: height }, gap);
    var active = pickActive(state.participants, state.activeId);
    if (active) slots.push(slot("cam:" + active.id, "camera", active.id, pipRect(layout, orient, width, height), "overlay"));
    return slots;
  }

  function activeSpeakerWithScreens(state, width, height) {
    var colW = columnWidth(width, 1);
    var slots = screenSlots(state.screens, { x: 0, y: 0, w: width - colW, h: height }, 10);
    var active = pickActive(state.participants, state.activeId);
    if (active) {
      var h = Math.floor(colW / ASPECT_16_9);
      slots.push(slot("cam:" + active.id, "camera", active.id, rect(width - colW, (height - h) / 2, colW, h)));
    }
    return slots;
  }

  /* state: {participants: [{id, lastSpokeAt, portrait}], screens: [{key, id}], activeId}
   * Returns {orientation, arrangement, slots: [{key, kind, id, x, y, w, h, layer, count?}]}. */
  function computeLayout(layout, width, height, state) {
    var orient = orientation(width, height);
    var n = state.participants.length;
    var hasScreens = state.screens.length > 0;
    var arrangement;
    var slots;
    if (layout === "gallery" && hasScreens && orient === "landscape") {
      arrangement = "gallery-screens";
      slots = galleryWithScreens(state, width, height);
    } else if (hasScreens && (layout === "gallery" || layout === "crop" || orient !== "landscape")) {
      arrangement = "screens-pip";
      slots = screensWithPip(layout, orient, state, width, height);
    } else if (hasScreens) {
      arrangement = "active-screens";
      slots = activeSpeakerWithScreens(state, width, height);
    } else if (layout === "active-speaker") {
      arrangement = "active";
      var active = pickActive(state.participants, state.activeId);
      slots = active ? [slot("cam:" + active.id, "camera", active.id, activeRect(orient, width, height))] : [];
    } else if (layout === "crop") {
      arrangement = "crop";
      var cropList = pickVisible(state.participants, MAX_SLOTS["crop-" + orient]);
      var cropN = cropList.visible.length + (cropList.hidden ? 1 : 0);
      slots = cropN ? cameraSlots(cropList, cropRects(orient, cropN, width, height)) : [];
    } else {
      arrangement = "gallery";
      var list = pickVisible(state.participants, MAX_SLOTS.gallery);
      var count = list.visible.length + (list.hidden ? 1 : 0);
      if (count === 1 && orient === "portrait" && list.visible[0].portrait) {
        slots = cameraSlots(list, [rect(0, 0, width, height)]);
      } else if (count > 0) {
        var p = galleryParams(orient, count);
        var box = { x: p.pad, y: p.pad, w: width - 2 * p.pad, h: height - 2 * p.pad };
        var g = bestGrid(count, box.w, box.h, p.aspect, p.gap);
        slots = cameraSlots(list, placeGrid(count, box, g, p.gap));
      } else {
        slots = [];
      }
    }
    return { orientation: orient, arrangement: arrangement, slots: slots, participants: n };
  }

  global.EgressLayoutGeometry = {
    computeLayout: computeLayout,
    orientation: orientation,
    bestGrid: bestGrid,
    cropRows: cropRows,
    pickVisible: pickVisible,
    MAX_SLOTS: MAX_SLOTS,
  };
})(window);
