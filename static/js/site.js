// callportal: the copy-link button and running call durations (the player: player.js). No dependencies.
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-http intranet hosts have no Clipboard API: fall back to a selection copy.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error("copy failed")); }
    });
  }

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var id = button.getAttribute("data-copy");
    var input = document.getElementById(id);
    var status = document.querySelector('[data-copy-status="' + id + '"]');
    button.addEventListener("click", function () {
      copyText(input.value).then(function () {
        status.textContent = "Link copied to the clipboard.";
      }, function () {
        // Leave the link selected so that Ctrl+C / Cmd+C copies it.
        input.focus();
        input.select();
        status.textContent = "Could not copy automatically: the link is selected, press Ctrl+C to copy it.";
      });
    });
  });

  function format(total) {
    var h = Math.floor(total / 3600);
    var m = Math.floor((total % 3600) / 60);
    var s = total % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return h ? h + ":" + pad(m) + ":" + pad(s) : m + ":" + pad(s);
  }

  // Counted from the server's figure and the time since page load, so a wrong clock
  // on the viewer's machine does not matter.
  var timers = document.querySelectorAll("[data-running-seconds]");
  if (timers.length) {
    var loaded = Date.now();
    var tick = function () {
      var elapsed = Math.floor((Date.now() - loaded) / 1000);
      timers.forEach(function (el) {
        el.textContent = format(parseInt(el.getAttribute("data-running-seconds"), 10) + elapsed);
      });
    };
    window.setInterval(tick, 1000);
  }
})();
