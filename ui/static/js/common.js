// Shared helpers for the lobby and room pages: URLs, the CSRF token,
// validation rules that mirror the server, the session state kept in
// sessionStorage, and readable messages for API errors.
(function () {
  "use strict";

  function meta(name) {
    var el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute("content") || "" : "";
  }

  // The organization's URL prefix: "" or "/o/slug", never a trailing slash.
  var base = meta("roomhub-base").replace(/\/+$/, "");

  function url(path) {
    return base + path;
  }

  function csrfToken() {
    return meta("csrf-token");
  }

  // Validation: the same rules, order and messages as the server.
  var ROOM_MIN = 1, ROOM_MAX = 64, NAME_MIN = 2, NAME_MAX = 100;
  var ROOM_CHARS = /^[A-Za-z0-9_-]*$/;
  // Names: letters and marks of any script, digits, spaces, apostrophes,
  // periods, hyphens and underscores (roomhub.NormalizeName).
  var NAME_CHARS = /^[\p{L}\p{M}\p{Nd}_'\u2019.\- \t\n\r\v\f]*$/u;
  var NAME_WORD = /[\p{L}\p{Nd}]/u;
  var SPACE_RUNS = /[ \t\n\r\v\f]+/g;

  function byteLength(s) {
    return new TextEncoder().encode(s).length;
  }

  // validateRoom returns "" or the message the server would give.
  function validateRoom(room) {
    var n = byteLength(room);
    if (n < ROOM_MIN || n > ROOM_MAX) {
      return "Room name must be " + ROOM_MIN + " to " + ROOM_MAX + " characters.";
    }
    if (!ROOM_CHARS.test(room)) {
      return "Room name may only contain letters, digits, '_' and '-'.";
    }
    return "";
  }

  // normalizeName returns {name, error}: whitespace runs collapsed to one
  // space and the ends trimmed, or the message the server would give.
  function normalizeName(name) {
    var lengthMsg = "Name must be " + NAME_MIN + " to " + NAME_MAX + " characters.";
    if (byteLength(name) > 4 * NAME_MAX) {
      return { name: "", error: lengthMsg };
    }
    name = name.normalize("NFC");
    if (!NAME_CHARS.test(name)) {
      return { name: "", error: "Name may contain letters of any language, digits, spaces, apostrophes, periods, hyphens and underscores." };
    }
    var norm = name.replace(SPACE_RUNS, " ").trim();
    var chars = Array.from(norm).length;
    if (chars < NAME_MIN || chars > NAME_MAX) {
      return { name: "", error: lengthMsg };
    }
    if (!NAME_WORD.test(norm)) {
      return { name: "", error: "Name must contain a letter or a digit." };
    }
    return { name: norm, error: "" };
  }

  // Session state written by the lobby and read by the room page.
  var KEYS = ["room", "name", "uid", "token", "app_id", "channel", "expires_at"];

  function storage() {
    try {
      return window.sessionStorage;
    } catch (e) {
      return null;
    }
  }

  function saveSession(s) {
    var st = storage();
    if (!st) {
      return false;
    }
    try {
      KEYS.forEach(function (k) {
        var v = s[k];
        if (v === null || v === undefined) {
          st.removeItem(k);
        } else {
          st.setItem(k, String(v));
        }
      });
      return true;
    } catch (e) {
      return false;
    }
  }

  // loadSession returns the stored state, or null if room, name or uid is
  // missing or invalid.
  function loadSession() {
    var st = storage();
    if (!st) {
      return null;
    }
    var room = st.getItem("room");
    var name = st.getItem("name");
    var uidText = st.getItem("uid");
    if (!room || !name || uidText === null || !/^[0-9]{1,10}$/.test(uidText)) {
      return null;
    }
    var uid = Number(uidText);
    if (uid > 4294967295 || validateRoom(room) || normalizeName(name).error) {
      return null;
    }
    var exp = st.getItem("expires_at");
    return {
      room: room,
      name: name,
      uid: uid,
      token: st.getItem("token"),
      app_id: st.getItem("app_id"),
      channel: st.getItem("channel") || room,
      expires_at: exp === null ? null : Number(exp)
    };
  }

  function clearSession() {
    var st = storage();
    if (st) {
      try {
        st.clear();
      } catch (e) {
        /* storage unavailable: nothing to clear */
      }
    }
  }

  // A message for the lobby to show once, e.g. why the visitor was removed.
  function setNotice(text) {
    var st = storage();
    if (st) {
      try {
        st.setItem("notice", text);
      } catch (e) {
        /* best effort */
      }
    }
  }

  function takeNotice() {
    var st = storage();
    if (!st) {
      return "";
    }
    var text = st.getItem("notice") || "";
    st.removeItem("notice");
    return text;
  }

  // ApiError carries the HTTP status and the server's JSON error body.
  function ApiError(status, body, retryAfter) {
    this.status = status;
    this.body = body || {};
    this.field = this.body.field || "";
    this.retryAfter = retryAfter;
    this.message = describe(status, this.body, retryAfter);
  }
  ApiError.prototype = Object.create(Error.prototype);
  ApiError.prototype.constructor = ApiError;
  ApiError.prototype.name = "ApiError";

  function plural(n, one, many) {
    return n + " " + (n === 1 ? one : many);
  }

  // describe turns an API failure into a sentence for people.
  function describe(status, body, retryAfter) {
    var msg = body && typeof body.error === "string" ? body.error.trim() : "";
    if (status === 0) {
      return "Could not reach the server. Check your connection and try again.";
    }
    if (status === 429) {
      var wait = retryAfter > 0 ? " Please wait " + plural(retryAfter, "second", "seconds") + " and try again." : " Please wait a moment and try again.";
      return "Too many attempts." + wait;
    }
    if (status === 401) {
      return msg || "Your session has expired. Please reload the page and try again.";
    }
    if (status === 403) {
      return msg || "You are not allowed to do that. Please reload the page and try again.";
    }
    if (status >= 500) {
      return (status === 503 && msg) ? msg : "Something went wrong on the server. Please try again in a moment.";
    }
    if (msg) {
      return /[.!?]$/.test(msg) ? msg : msg + ".";
    }
    return "The request failed (" + status + "). Please try again.";
  }

  function retryAfterSeconds(res, body) {
    var v = body && body.retry_after_seconds;
    if (typeof v === "number" && isFinite(v) && v > 0) {
      return Math.ceil(v);
    }
    var h = res.headers.get("Retry-After");
    if (h && /^[0-9]+$/.test(h)) {
      return Number(h);
    }
    return 0;
  }

  // request performs a same-origin fetch and resolves with the parsed JSON
  // body (or null), or rejects with an ApiError. opts.keepalive lets the
  // request outlive the page.
  function request(method, path, body, opts) {
    var init = {
      method: method,
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Accept": "application/json" },
      keepalive: !!(opts && opts.keepalive)
    };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRF-Token"] = csrfToken();
      init.body = JSON.stringify(body);
    }
    return fetch(url(path), init).then(
      function (res) {
        return res.text().then(function (text) {
          var data = null;
          if (text) {
            try {
              data = JSON.parse(text);
            } catch (e) {
              data = null;
            }
          }
          if (!res.ok) {
            throw new ApiError(res.status, data, retryAfterSeconds(res, data));
          }
          return data;
        });
      },
      function () {
        throw new ApiError(0, null, 0);
      }
    );
  }

  window.Roomhub = {
    base: base,
    url: url,
    csrfToken: csrfToken,
    validateRoom: validateRoom,
    normalizeName: normalizeName,
    saveSession: saveSession,
    loadSession: loadSession,
    clearSession: clearSession,
    setNotice: setNotice,
    takeNotice: takeNotice,
    request: request,
    ApiError: ApiError
  };
})();
