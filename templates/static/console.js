// The console's own script: progressive enhancement only; every flow works without it.
// - <time datetime> elements get the viewer's local time beside the UTC text the server rendered.
// - forms with data-confirm ask before submitting (stop, cancel, delete).
(function () {
  "use strict";
  function localTimes(root) {
    root.querySelectorAll("time[datetime][data-local]").forEach(function (el) {
      if (el.dataset.done) return;
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      var span = document.createElement("span");
      span.className = "muted local-time";
      span.textContent = " (" + d.toLocaleString([], {year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short"}) + " your time)";
      el.after(span);
      el.dataset.done = "1";
    });
  }
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) ev.preventDefault();
  }, true);
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); });
  document.addEventListener("htmx:afterSettle", function (ev) { localTimes(ev.target); });
})();
