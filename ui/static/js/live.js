// live.js keeps the "time in room" of the live rooms page current between
// server updates. Everything else on the page is server-rendered and pushed
// by the event stream (htmx-ext-sse).
(function () {
  "use strict";
  function label(ms) {
    var m = Math.floor(ms / 60000);
    if (m < 1) return "just now";
    if (m < 60) return m + " min";
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-since]").forEach(function (t) {
      var since = parseInt(t.getAttribute("data-since"), 10);
      if (!isNaN(since)) t.textContent = label(now - since);
    });
  }
  setInterval(tick, 15000);

  // A moderation action that fails (the member left meanwhile, the session
  // ended) says so; the stream keeps the rooms themselves current.
  document.addEventListener("htmx:responseError", function (event) {
    var box = document.getElementById("live-error");
    if (!box) return;
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    box.textContent = status === 404
      ? "That member or room is no longer there; the page shows what is current."
      : "That did not work (error " + status + "). Reload the page and try again.";
    box.hidden = false;
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var box = document.getElementById("live-error");
    if (box && event.detail.successful) box.hidden = true;
  });
})();
