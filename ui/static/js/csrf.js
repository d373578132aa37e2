// Adds the page's CSRF token to every htmx request.
(function () {
  "use strict";
  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    var token = meta ? meta.getAttribute("content") : "";
    if (token) {
      event.detail.headers["X-CSRF-Token"] = token;
    }
  });
})();
