// callportal: the call page's player. The waveform above it is a slider: a click plays from
// that point, the arrow keys move through the recording, a shaded band and a cursor show the
// position. Markers, on the waveform and on the timeline below the player, seek to their
// start. No dependencies.
(function () {
  "use strict";

  var audio = document.getElementById("recording-audio");
  if (!audio) { return; }
  var box = document.querySelector("[data-waveform]");

  function known() { return isFinite(audio.duration) && audio.duration > 0; }

  // Before the player knows the recording's length, a seek waits for it. The page loads no
  // audio by itself (preload="none": opening a call is a view, not a play); a seek is the
  // user asking to listen, so it fetches the recording now.
  function whenKnown(then) {
    if (known()) { then(); return; }
    audio.addEventListener("loadedmetadata", then, { once: true });
    if (audio.readyState === HTMLMediaElement.HAVE_NOTHING && audio.preload === "none") {
      audio.preload = "metadata";
      audio.load();
    }
  }

  function seek(seconds) {
    whenKnown(function () {
      audio.currentTime = Math.min(Math.max(seconds, 0), audio.duration);
    });
  }

  function clock(seconds) {
    var whole = Math.floor(seconds || 0);
    var m = Math.floor(whole / 60);
    var s = whole % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  document.querySelectorAll("[data-seek-ms]").forEach(function (marker) {
    marker.addEventListener("click", function (event) {
      // A marker on the waveform: its start, not the clicked point.
      event.stopPropagation();
      seek(parseInt(marker.getAttribute("data-seek-ms"), 10) / 1000);
    });
  });

  // Every marker, on the waveform and on the timeline under the player, sits where it falls
  // in the recording, once the player knows the recording's length: the one scale of both
  // bars and of the waveform's picture. (The page placed them by the call's length, which a
  // recording may not match: a recording shorter than its call would shrink them.)
  function placeMarkers() {
    if (!known()) { return; }
    document.querySelectorAll("[data-start-ms]").forEach(function (marker) {
      var start = parseInt(marker.getAttribute("data-start-ms"), 10) / 1000;
      var endText = marker.getAttribute("data-end-ms");
      var end = endText ? parseInt(endText, 10) / 1000 : start;
      var left = Math.min(start / audio.duration, 1) * 100;
      var right = Math.min(end / audio.duration, 1) * 100;
      marker.style.left = left + "%";
      marker.style.width = Math.max(right - left, 0.5) + "%";
    });
  }
  audio.addEventListener("loadedmetadata", placeMarkers);
  audio.addEventListener("durationchange", placeMarkers);
  placeMarkers();

  if (!box) { return; }
  var image = box.querySelector("img");
  var played = box.querySelector(".waveform-played");

  // A recording that cannot be drawn: no waveform rather than a broken image.
  function hide() { box.hidden = true; document.getElementById("waveform-hint").hidden = true; }
  image.addEventListener("error", hide);
  if (image.complete && image.naturalWidth === 0) { hide(); }

  box.addEventListener("click", function (event) {
    var rect = box.getBoundingClientRect();
    var fraction = Math.min(Math.max((event.clientX - rect.left) / rect.width, 0), 1);
    whenKnown(function () { audio.currentTime = fraction * audio.duration; });
  });

  var STEPS = { ArrowLeft: -5, ArrowDown: -5, ArrowRight: 5, ArrowUp: 5, PageDown: -30, PageUp: 30 };
  box.addEventListener("keydown", function (event) {
    if (event.key in STEPS) {
      seek(audio.currentTime + STEPS[event.key]);
    } else if (event.key === "Home") {
      seek(0);
    } else if (event.key === "End") {
      seek(Infinity);
    } else if (event.key === " " || event.key === "Enter") {
      if (audio.paused) { audio.play(); } else { audio.pause(); }
    } else {
      return;
    }
    event.preventDefault();
  });

  var spoken = "";
  function show() {
    var fraction = known() ? Math.min(audio.currentTime / audio.duration, 1) : 0;
    played.style.width = fraction * 100 + "%";
    // Whole seconds for assistive technology: not a new value every frame.
    var text = clock(audio.currentTime) + " of " + clock(known() ? audio.duration : 0);
    if (text !== spoken) {
      spoken = text;
      box.setAttribute("aria-valuenow", String(Math.floor(audio.currentTime)));
      box.setAttribute("aria-valuemax", String(known() ? Math.ceil(audio.duration) : 0));
      box.setAttribute("aria-valuetext", text);
    }
  }

  function frame() {
    show();
    if (!audio.paused && !audio.ended) { window.requestAnimationFrame(frame); }
  }

  ["loadedmetadata", "durationchange", "timeupdate", "seeking", "seeked", "pause", "ended"].forEach(
    function (name) { audio.addEventListener(name, show); }
  );
  audio.addEventListener("play", function () { window.requestAnimationFrame(frame); });
  show();
})();
