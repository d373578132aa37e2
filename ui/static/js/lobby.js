// Lobby: validates the join form like the server does, asks the server for a
// uid (and a video token when video is configured), stores the result in
// sessionStorage and goes to the room page.
(function () {
  "use strict";
  var R = window.Roomhub;

  var form = document.getElementById("join-form");
  var roomInput = document.getElementById("room");
  var nameInput = document.getElementById("name");
  var roomError = document.getElementById("room-error");
  var nameError = document.getElementById("name-error");
  var formError = document.getElementById("form-error");
  var joinButton = document.getElementById("join");
  var notice = document.getElementById("lobby-notice");
  if (!form) {
    return;
  }

  var busy = false;

  function setFieldError(input, el, message) {
    el.textContent = message;
    el.hidden = !message;
    if (message) {
      input.setAttribute("aria-invalid", "true");
    } else {
      input.removeAttribute("aria-invalid");
    }
  }

  function setFormError(message) {
    formError.textContent = message;
    formError.hidden = !message;
  }

  function checkRoom() {
    var msg = R.validateRoom(roomInput.value);
    setFieldError(roomInput, roomError, msg);
    return msg === "";
  }

  function checkName() {
    var res = R.normalizeName(nameInput.value);
    setFieldError(nameInput, nameError, res.error);
    return res.error === "" ? res.name : null;
  }

  // Prefill: ?room= from the address; the name used last in this tab.
  var params = new URLSearchParams(window.location.search);
  var roomParam = params.get("room");
  if (roomParam !== null) {
    roomInput.value = roomParam.slice(0, 64);
  }
  try {
    var lastName = window.sessionStorage.getItem("name");
    if (lastName && !nameInput.value) {
      nameInput.value = lastName;
    }
  } catch (e) {
    /* storage unavailable */
  }

  var text = R.takeNotice();
  if (text) {
    notice.textContent = text;
    notice.hidden = false;
  }

  // Validate a field when the user leaves it, and re-check on every change
  // once a message is showing, so it disappears as soon as it is fixed.
  var touched = { room: false, name: false };
  roomInput.addEventListener("blur", function () {
    if (roomInput.value !== "") {
      touched.room = true;
      checkRoom();
    }
  });
  nameInput.addEventListener("blur", function () {
    if (nameInput.value !== "") {
      touched.name = true;
      checkName();
    }
  });
  roomInput.addEventListener("input", function () {
    if (touched.room) {
      checkRoom();
    }
  });
  nameInput.addEventListener("input", function () {
    if (touched.name) {
      checkName();
    }
  });

  function fieldInput(field) {
    switch (field) {
      case "room":
      case "room_name":
      case "channel":
        return [roomInput, roomError];
      case "name":
        return [nameInput, nameError];
      default:
        return null;
    }
  }

  function setBusy(on) {
    busy = on;
    joinButton.disabled = on;
    joinButton.textContent = on ? "Joining…" : "Join room";
    form.setAttribute("aria-busy", on ? "true" : "false");
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) {
      return;
    }
    setFormError("");
    touched.room = true;
    touched.name = true;
    var roomOK = checkRoom();
    var name = checkName();
    if (!roomOK) {
      roomInput.focus();
      return;
    }
    if (name === null) {
      nameInput.focus();
      return;
    }
    var room = roomInput.value;

    setBusy(true);
    R.request("GET", "/get_token/?channel=" + encodeURIComponent(room))
      .then(function (data) {
        if (!data || typeof data.uid !== "number") {
          throw new R.ApiError(502, { error: "The server sent an unexpected answer. Please try again." }, 0);
        }
        var saved = R.saveSession({
          room: room,
          name: name,
          uid: data.uid,
          token: data.token,
          app_id: data.app_id,
          channel: data.channel || room,
          expires_at: data.expires_at
        });
        if (!saved) {
          throw new R.ApiError(400, { error: "This browser is blocking session storage, which Roomhub needs. Allow site data and try again." }, 0);
        }
        window.location.assign(R.url("/room/"));
      })
      .catch(function (err) {
        setBusy(false);
        var message = err && err.message ? err.message : "Something went wrong. Please try again.";
        var target = err && err.field ? fieldInput(err.field) : null;
        if (target) {
          setFieldError(target[0], target[1], message);
          target[0].focus();
        } else {
          setFormError(message);
        }
      });
  });
})();
