// A recording's page: HLS recordings play through the browser's own HLS support where it has one, else through
// hls.js, which is loaded only when the person presses Play (it is 355 KB; the page's first load stays small).
// MP4 needs nothing: the <video> element plays the same-origin media link the server rendered.
(function () {
  "use strict";
  function start(video, button, status) {
    var url = video.dataset.hls;
    button.disabled = true;
    status.textContent = "Loading the player…";
    function attach() {
      var Hls = window.Hls;
      if (!Hls || !Hls.isSupported()) {
        status.textContent = "This browser cannot play HLS; use the playlist link in a player such as VLC.";
        button.disabled = false;
        return;
      }
      // No worker: the console's Content-Security-Policy allows no blob: workers, and recordings are short.
      var hls = new Hls({enableWorker: false});
      hls.on(Hls.Events.MANIFEST_PARSED, function () {
        button.hidden = true;
        status.textContent = "";
        video.play().catch(function () { status.textContent = "Press play on the video to start."; });
      });
      hls.on(Hls.Events.ERROR, function (_event, data) {
        if (!data.fatal) return;
        status.textContent = "The recording could not be played (" + data.details + ").";
        hls.destroy();
        button.disabled = false;
      });
      hls.loadSource(url);
      hls.attachMedia(video);
      video.dataset.player = "hls.js";
    }
    if (window.Hls) { attach(); return; }
    var script = document.createElement("script");
    script.src = video.dataset.hlsLib;
    script.onload = attach;
    script.onerror = function () {
      status.textContent = "The HLS player could not be loaded.";
      button.disabled = false;
    };
    document.head.appendChild(script);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var video = document.querySelector("video[data-hls]");
    if (!video) return;
    if (video.canPlayType("application/vnd.apple.mpegurl")) {  // Safari, iOS, Android: native HLS
      video.src = video.dataset.hls;
      video.dataset.player = "native";
      return;
    }
    var button = document.getElementById("play-hls");
    var status = document.getElementById("player-status");
    button.hidden = false;
    button.addEventListener("click", function () { start(video, button, status); });
  });
})();
