// The broadcast form's enhancements (the form works without them):
// - the time zone defaults to the viewer's own on a new broadcast;
// - only the schedule fields that apply are shown (start now/at, duration/end, once/weekly/cron);
// - the layout preview follows the layout and its options.
(function () {
  "use strict";
  var form = document.getElementById("broadcast-form");
  if (!form) return;
  var ALIASES = {"grid": "gallery", "grid-light": "gallery", "speaker": "active-speaker",
    "speaker-light": "active-speaker", "single-speaker": "active-speaker", "single-speaker-light": "active-speaker"};
  var OPTIONS = ["theme", "background", "show_names", "show_non_publishing", "show_agents", "title"];

  var zone = document.getElementById("timezone");
  if (zone && zone.dataset.default === "yes") {
    var mine = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (mine && Array.prototype.some.call(zone.options, function (o) { return o.value === mine; })) zone.value = mine;
  }

  function checked(name) {
    var el = form.querySelector("input[name='" + name + "']:checked");
    return el ? el.value : "";
  }
  function showApplicable() {
    form.querySelectorAll("[data-when]").forEach(function (el) {
      var rule = el.dataset.when.split("="), values = rule[1].split(",");
      el.hidden = values.indexOf(checked(rule[0])) < 0;
    });
  }

  var frame = document.getElementById("layout-preview");
  var note = document.getElementById("preview-note");
  var timer = null;
  function previewUrl() {
    var layout = form.elements.layout.value;
    var name = ALIASES[layout] || layout;
    if (["gallery", "active-speaker", "crop"].indexOf(name) < 0) return null;
    var params = new URLSearchParams({participants: "4"});
    OPTIONS.forEach(function (opt) {
      var el = form.elements["opt_" + opt];
      if (el && el.value) params.set(opt, el.value);
    });
    return "/layouts/" + name + "/preview?" + params.toString();
  }
  function updatePreview() {
    if (!frame) return;
    var url = previewUrl();
    frame.parentElement.hidden = !url;
    if (note) note.hidden = !!url;
    if (url && frame.getAttribute("src") !== url) frame.setAttribute("src", url);
  }
  function fitPreview() {
    if (!frame) return;
    var width = frame.parentElement.clientWidth;
    if (width) frame.style.transform = "scale(" + (width / 1920) + ")";
  }

  form.addEventListener("change", function (ev) {
    showApplicable();
    if (ev.target.hasAttribute("data-preview")) updatePreview();
  });
  form.addEventListener("input", function (ev) {
    if (!ev.target.hasAttribute("data-preview")) return;
    clearTimeout(timer);
    timer = setTimeout(updatePreview, 400);
  });
  window.addEventListener("resize", fitPreview);
  showApplicable();
  fitPreview();
})();
