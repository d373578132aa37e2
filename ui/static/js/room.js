// Room: registers the member, keeps a WebSocket to the hub for presence,
// raised hands and chat, and runs the Agora video call when the server
// issued a token. User-supplied text is only ever set with textContent.
(function () {
  "use strict";
  var R = window.Roomhub;

  var session = R.loadSession();
  if (!session) {
    window.location.replace(R.url("/"));
    return;
  }
  var room = session.room;
  var myUid = session.uid;

  // Elements (ids are a stable interface).
  var $ = function (id) { return document.getElementById(id); };
  var roomNameEl = $("room-name");
  var connStatus = $("conn-status");
  var roomNotice = $("room-notice");
  var toastEl = $("toast");
  var videoStatus = $("video-status");
  var localVideo = $("local-video");
  var remoteVideos = $("remote-videos");
  var rosterEl = $("roster");
  var rosterCount = $("roster-count");
  var chatLog = $("chat-log");
  var chatForm = $("chat-form");
  var chatInput = $("chat-input");
  var chatSend = $("chat-send");
  var raiseHand = $("raise-hand");
  var leaveButton = $("leave");

  var videoMeta = document.querySelector('meta[name="roomhub-video"]');
  var videoConfigured = !!videoMeta && videoMeta.getAttribute("content") === "on";

  var CHAT_MAX = 500;
  var CHAT_KEEP = 300; // lines kept in the chat log
  var BACKOFF_MIN = 500;
  var BACKOFF_MAX = 10000;
  var CONNECT_TIMEOUT = 15000;

  roomNameEl.textContent = room;
  document.title = room + " · " + document.title;

  // ---- State ----
  var roster = new Map(); // uid -> {uid, name, joined_at}
  var names = new Map(); // uid -> last known name, kept after a leave for chat
  var hands = new Set(); // uids with a raised hand

  // handIcon draws a raised hand. An emoji renders as an empty box where no
  // emoji font is installed; this draws the same everywhere.
  var SVG_NS = "http://www.w3.org/2000/svg";
  function handIcon() {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "1.1em");
    svg.setAttribute("height", "1.1em");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("fill", "currentColor");
    path.setAttribute("d", "M7 11V5.5a1.5 1.5 0 0 1 3 0V10h.5V3.5a1.5 1.5 0 0 1 3 0V10h.5V4.5a1.5 1.5 0 0 1 3 0V11h.5V7.5a1.5 1.5 0 0 1 3 0V15a7 7 0 0 1-7 7h-.6a6 6 0 0 1-4.7-2.3L3.3 14.6a1.5 1.5 0 0 1 2.3-1.9L7 14.4z");
    svg.appendChild(path);
    return svg;
  }
  var inVideo = new Set(); // uids Agora reports in the video ("video" frames)
  var myHand = false;
  var lastSeq = null; // seq of the last applied frame, null before a snapshot

  var ws = null;
  var attempt = 0; // reconnect attempts since the last snapshot
  var retryTimer = null;
  var connectTimer = null;
  var stopped = false; // no more reconnects
  var leaving = false; // the visitor is leaving; nothing more to show
  var everRegistered = false;
  var renewWanted = false; // a renew_token request is waiting for a socket

  names.set(myUid, session.name);

  // ---- Small UI helpers ----
  function setConn(state) {
    connStatus.textContent = state;
    connStatus.setAttribute("data-state", state);
    var open = state === "connected";
    chatInput.disabled = !open;
    chatSend.disabled = !open;
    raiseHand.disabled = !open;
  }

  var toastTimer = null;
  function toast(message) {
    toastEl.textContent = message;
    toastEl.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () {
      toastEl.hidden = true;
    }, 4000);
  }

  function setVideoStatus(text) {
    videoStatus.textContent = text;
  }

  function displayName(uid) {
    var m = roster.get(uid);
    if (m) {
      return m.name;
    }
    return names.get(uid) || "User " + uid;
  }

  // ---- Roster ----
  function normalizeMember(m) {
    if (!m || typeof m.uid !== "number" || !isFinite(m.uid)) {
      return null;
    }
    var name = typeof m.name === "string" && m.name ? m.name : "User " + m.uid;
    return { uid: m.uid, name: name, joined_at: typeof m.joined_at === "number" ? m.joined_at : 0 };
  }

  function renderRoster() {
    var members = Array.from(roster.values()).sort(function (a, b) {
      return a.joined_at - b.joined_at || a.uid - b.uid;
    });
    var frag = document.createDocumentFragment();
    members.forEach(function (m) {
      var li = document.createElement("li");
      li.setAttribute("data-uid", String(m.uid));
      var name = document.createElement("span");
      name.className = "member-name";
      name.textContent = m.name;
      li.appendChild(name);
      if (m.uid === myUid) {
        li.classList.add("me");
        var you = document.createElement("span");
        you.className = "you";
        you.textContent = "(you)";
        li.appendChild(you);
      }
      if (inVideo.has(m.uid)) {
        li.setAttribute("data-video", "in");
        var cam = document.createElement("span");
        cam.className = "in-video";
        cam.title = "In the video";
        cam.textContent = "in video";
        li.appendChild(cam);
      }
      if (hands.has(m.uid)) {
        li.classList.add("hand-raised");
        li.setAttribute("data-hand", "raised");
        var hand = document.createElement("span");
        hand.className = "hand";
        hand.setAttribute("role", "img");
        hand.setAttribute("aria-label", "hand raised");
        hand.title = "Hand raised";
        hand.appendChild(handIcon());
        li.appendChild(hand);
      }
      frag.appendChild(li);
    });
    rosterEl.replaceChildren(frag);
    rosterCount.textContent = "(" + members.length + ")";
    updateTileLabels();
  }

  function putMember(raw) {
    var m = normalizeMember(raw);
    if (m) {
      roster.set(m.uid, m);
      names.set(m.uid, m.name);
    }
  }

  // ---- Chat ----
  function appendChat(fromUid, text) {
    var li = document.createElement("li");
    var from = document.createElement("span");
    from.className = "chat-from";
    from.textContent = fromUid === myUid ? "You" : displayName(fromUid);
    li.appendChild(from);
    li.appendChild(document.createTextNode(": "));
    var body = document.createElement("span");
    body.className = "chat-text";
    body.textContent = text;
    li.appendChild(body);
    var nearBottom = chatLog.scrollHeight - chatLog.scrollTop - chatLog.clientHeight < 40;
    chatLog.appendChild(li);
    while (chatLog.childElementCount > CHAT_KEEP) {
      chatLog.removeChild(chatLog.firstElementChild);
    }
    if (nearBottom || fromUid === myUid) {
      chatLog.scrollTop = chatLog.scrollHeight;
    }
  }

  // ---- Socket ----
  function send(obj) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(obj));
      return true;
    }
    return false;
  }

  function memberBody() {
    return { name: session.name, room_name: room, UID: myUid };
  }

  function socketURL() {
    var proto = window.location.protocol === "https:" ? "wss:" : "ws:";
    return proto + "//" + window.location.host + R.url("/ws/" + encodeURIComponent(room));
  }

  // connect registers the member (idempotent) and then opens the socket.
  function connect() {
    retryTimer = null;
    if (stopped) {
      return;
    }
    R.request("POST", "/create_member/", memberBody()).then(
      function () {
        if (stopped) {
          return;
        }
        if (!everRegistered) {
          everRegistered = true;
          startVideo();
        }
        openSocket();
      },
      function (err) {
        if (stopped) {
          return;
        }
        if (err.status === 429) {
          scheduleReconnect(err.retryAfter > 0 ? err.retryAfter * 1000 : 0);
        } else if (err.status === 0 || err.status >= 500 || err.status === 408) {
          scheduleReconnect(0);
        } else {
          // The server refused us (session expired, room full, bad state):
          // start over from the lobby with the reason.
          leaveToLobby(err.message, true);
        }
      }
    );
  }

  function openSocket() {
    var sock;
    try {
      sock = new WebSocket(socketURL());
    } catch (e) {
      scheduleReconnect(0);
      return;
    }
    ws = sock;
    clearTimeout(connectTimer);
    connectTimer = setTimeout(function () {
      if (sock.readyState === WebSocket.CONNECTING) {
        sock.close();
      }
    }, CONNECT_TIMEOUT);

    sock.addEventListener("open", function () {
      if (sock !== ws) {
        return;
      }
      clearTimeout(connectTimer);
      setConn("connected");
      if (renewWanted) {
        send({ type: "renew_token" });
      }
    });
    sock.addEventListener("message", function (ev) {
      if (sock !== ws || typeof ev.data !== "string") {
        return;
      }
      var frame;
      try {
        frame = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      handleFrame(frame);
    });
    sock.addEventListener("close", function (ev) {
      if (sock !== ws) {
        return;
      }
      ws = null;
      clearTimeout(connectTimer);
      if (leaving || stopped) {
        return;
      }
      if (ev.code >= 4001 && ev.code <= 4099) {
        stopWithReason(closeMessage(ev.code, ev.reason));
        return;
      }
      scheduleReconnect(0);
    });
  }

  // scheduleReconnect waits 0.5 s doubling to 10 s, jittered, or the
  // server-requested delay, then connects again.
  function scheduleReconnect(delayMs) {
    if (stopped || retryTimer) {
      return;
    }
    setConn("reconnecting");
    var ceiling = Math.min(BACKOFF_MAX, BACKOFF_MIN * Math.pow(2, attempt));
    attempt++;
    var delay = delayMs > 0 ? delayMs : ceiling / 2 + Math.random() * (ceiling / 2);
    retryTimer = setTimeout(connect, delay);
  }

  window.addEventListener("online", function () {
    if (retryTimer && !stopped) {
      clearTimeout(retryTimer);
      retryTimer = null;
      connect();
    }
  });

  function closeMessage(code, reason) {
    var r = (reason || "").trim();
    var lower = r.toLowerCase();
    if (lower.indexOf("kick") >= 0) {
      return "You were removed from the room.";
    }
    if (lower.indexOf("closed") >= 0) {
      return "The room was closed.";
    }
    if (lower.indexOf("not a member") >= 0) {
      return "You are no longer a member of this room. Join again from the lobby.";
    }
    if (r) {
      return "Disconnected from the room: " + r;
    }
    return "Disconnected from the room (code " + code + ").";
  }

  function leaveReasonMessage(reason) {
    return reason === "kicked" ? "You were removed from the room." : "The room was closed.";
  }

  // ---- Frames ----
  function isFresh(frame) {
    if (typeof frame.seq !== "number") {
      return true;
    }
    return lastSeq === null || frame.seq > lastSeq;
  }

  function markApplied(frame) {
    if (typeof frame.seq === "number") {
      lastSeq = frame.seq;
    }
  }

  function handleFrame(f) {
    if (!f || typeof f.type !== "string") {
      return;
    }
    if (typeof f.room === "string" && f.room !== room) {
      return;
    }
    switch (f.type) {
      case "snapshot":
        if (!Array.isArray(f.members)) {
          return;
        }
        roster.clear();
        f.members.forEach(putMember);
        hands.forEach(function (uid) {
          if (!roster.has(uid)) {
            hands.delete(uid);
          }
        });
        markApplied(f);
        attempt = 0;
        renderRoster();
        if (myHand) {
          send({ type: "signal", data: { kind: "hand", raised: true } });
        }
        return;
      case "join":
        if (!isFresh(f)) {
          return;
        }
        markApplied(f);
        putMember(f.member);
        renderRoster();
        return;
      case "leave":
        if (!isFresh(f)) {
          return;
        }
        markApplied(f);
        onLeave(f.uid, f.reason);
        return;
      case "signal":
        if (!isFresh(f)) {
          return;
        }
        markApplied(f);
        onSignal(f.from, f.data);
        return;
      case "video":
        if (!isFresh(f)) {
          return;
        }
        markApplied(f);
        if (typeof f.uid === "number") {
          if (f.in_video === true) {
            inVideo.add(f.uid);
          } else {
            inVideo.delete(f.uid);
          }
          renderRoster();
        }
        return;
      case "token":
        onToken(f.token, f.expires_at);
        return;
      case "error":
        onError(f.code, f.message);
        return;
    }
  }

  function onLeave(uid, reason) {
    if (typeof uid !== "number") {
      return;
    }
    roster.delete(uid);
    hands.delete(uid);
    inVideo.delete(uid);
    renderRoster();
    if (uid !== myUid) {
      return;
    }
    if (reason === "kicked" || reason === "closed") {
      leaveToLobby(leaveReasonMessage(reason), false);
      return;
    }
    // The hub dropped our membership (e.g. it expired) while this page is
    // still here: register again; the hub announces our join.
    if (!leaving && !stopped) {
      R.request("POST", "/create_member/", memberBody()).catch(function () {
        /* the next reconnect retries */
      });
    }
  }

  function onSignal(from, data) {
    if (typeof from !== "number" || !data || typeof data !== "object") {
      return;
    }
    if (data.kind === "hand") {
      if (data.raised === true) {
        hands.add(from);
      } else {
        hands.delete(from);
      }
      renderRoster();
    } else if (data.kind === "chat") {
      if (from === myUid) {
        return; // shown when sent
      }
      var text = typeof data.text === "string" ? data.text.slice(0, CHAT_MAX) : "";
      if (text.trim()) {
        appendChat(from, text);
      }
    }
  }

  // RENEW_RETRY is how long the page waits to ask again for a token the
  // server could not give (its event bus or token minting briefly down).
  var RENEW_RETRY = 5000;

  function onError(code, message) {
    if (renewWanted && (code === "unavailable" || code === "token_unavailable")) {
      setTimeout(function () {
        if (renewWanted && !stopped && !leaving) {
          requestRenew();
        }
      }, RENEW_RETRY);
    }
    var text = typeof message === "string" && message ? message : "";
    if (!text) {
      text = code === "rate_limited" ? "You are sending too fast. Please slow down." : "The server reported an error.";
    }
    toast(text);
  }

  // ---- Controls ----
  chatForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = chatInput.value.trim();
    if (!text) {
      return;
    }
    if (text.length > CHAT_MAX) {
      toast("Messages can be at most " + CHAT_MAX + " characters.");
      return;
    }
    if (!send({ type: "signal", data: { kind: "chat", text: text } })) {
      toast("Not connected: your message was not sent.");
      return;
    }
    appendChat(myUid, text);
    chatInput.value = "";
    chatInput.focus();
  });

  raiseHand.addEventListener("click", function () {
    var raised = !myHand;
    if (!send({ type: "signal", data: { kind: "hand", raised: raised } })) {
      toast("Not connected: try again in a moment.");
      return;
    }
    myHand = raised;
    if (raised) {
      hands.add(myUid);
    } else {
      hands.delete(myUid);
    }
    raiseHand.setAttribute("aria-pressed", raised ? "true" : "false");
    raiseHand.textContent = raised ? "Lower hand" : "Raise hand";
    renderRoster();
  });

  function withTimeout(promise, ms) {
    return Promise.race([
      Promise.resolve(promise).catch(function () {}),
      new Promise(function (resolve) { setTimeout(resolve, ms); })
    ]);
  }

  function shutdown() {
    leaving = true;
    stopped = true;
    clearTimeout(retryTimer);
    clearTimeout(connectTimer);
    retryTimer = null;
    if (ws) {
      var sock = ws;
      ws = null;
      try {
        sock.close(1000, "leave");
      } catch (e) {
        /* already closed */
      }
    }
  }

  leaveButton.addEventListener("click", function () {
    if (leaving) {
      return;
    }
    leaveButton.disabled = true;
    shutdown();
    setConn("disconnected");
    var del = R.request("POST", "/delete_member/", memberBody(), { keepalive: true });
    Promise.all([withTimeout(del, 3000), withTimeout(stopVideo(), 3000)]).then(function () {
      R.clearSession();
      window.location.assign(R.url("/"));
    });
  });

  // leaveToLobby ends the visit and shows message on the lobby. With
  // offerRoom the lobby is prefilled with this room.
  function leaveToLobby(message, offerRoom) {
    if (leaving) {
      return;
    }
    shutdown();
    setConn("disconnected");
    withTimeout(stopVideo(), 2000).then(function () {
      R.clearSession();
      R.saveSession({ name: session.name });
      R.setNotice(message);
      var target = R.url("/");
      if (offerRoom) {
        target += "?room=" + encodeURIComponent(room);
      }
      window.location.assign(target);
    });
  }

  // stopWithReason stays on the page after the hub refused the connection
  // for good (close codes 4001-4099) and says why.
  function stopWithReason(message) {
    stopped = true;
    clearTimeout(retryTimer);
    retryTimer = null;
    setConn("disconnected");
    stopVideo();
    roomNotice.replaceChildren();
    roomNotice.appendChild(document.createTextNode(message + " "));
    var a = document.createElement("a");
    a.href = R.url("/") + "?room=" + encodeURIComponent(room);
    a.textContent = "Back to the lobby";
    roomNotice.appendChild(a);
    roomNotice.hidden = false;
  }

  // sendBeacon cannot set headers: the CSRF token travels in the body.
  window.addEventListener("pagehide", function () {
    if (leaving || !navigator.sendBeacon) {
      return;
    }
    var body = memberBody();
    body.csrf_token = R.csrfToken();
    navigator.sendBeacon(
      R.url("/delete_member/"),
      new Blob([JSON.stringify(body)], { type: "application/json" })
    );
  });

  // Restored from the back/forward cache: the member was deleted on
  // pagehide and the socket is gone, so start afresh.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && !leaving) {
      window.location.reload();
    }
  });

  // ---- Video ----
  var video = { client: null, mic: null, cam: null, joining: false, joined: false, rejoinTried: false, needRejoin: false };

  function agoraErrorCode(err) {
    return err && (err.code || err.name) ? String(err.code || err.name) : "";
  }

  function isPermissionError(err) {
    var code = agoraErrorCode(err);
    return code === "PERMISSION_DENIED" || code === "NotAllowedError" ||
      /permission|notallowed/i.test(err && err.message ? err.message : "");
  }

  function requestRenew() {
    renewWanted = true;
    send({ type: "renew_token" });
  }

  // Tokens are short-lived (AGORA_TOKEN_TTL, 10 minutes by default, so a
  // member no longer admitted loses the video soon): ask for a new one
  // RENEW_AHEAD before expiry, whether or not the video SDK warns first.
  var RENEW_AHEAD = 60000;
  var RENEW_MIN = 5000;
  var renewTimer = null;
  function scheduleRenew() {
    if (renewTimer) {
      clearTimeout(renewTimer);
      renewTimer = null;
    }
    if (typeof session.expires_at !== "number" || stopped) {
      return;
    }
    var delay = Math.max(session.expires_at * 1000 - Date.now() - RENEW_AHEAD, RENEW_MIN);
    renewTimer = setTimeout(function () {
      renewTimer = null;
      if (!stopped && !leaving) {
        requestRenew();
      }
    }, delay);
  }

  function startVideo() {
    scheduleRenew();
    if (!videoConfigured) {
      return; // the page already says video is not configured
    }
    if (!session.app_id || !session.token) {
      setVideoStatus("Video is not available for this room; presence and chat still work.");
      return;
    }
    if (typeof window.AgoraRTC === "undefined") {
      setVideoStatus("The video library did not load; presence and chat still work. Reload the page to try again.");
      return;
    }
    var AgoraRTC = window.AgoraRTC;
    var client = AgoraRTC.createClient({ mode: "rtc", codec: "vp8" });
    video.client = client;

    client.on("user-published", function (user, mediaType) {
      if (mediaType !== "video" && mediaType !== "audio") {
        return;
      }
      client.subscribe(user, mediaType).then(function () {
        if (mediaType === "video" && user.videoTrack) {
          user.videoTrack.play(ensureTile(user.uid).slot);
        } else if (mediaType === "audio" && user.audioTrack) {
          user.audioTrack.play();
        }
      }).catch(function () {
        toast("Could not receive " + displayName(user.uid) + "'s " + mediaType + ".");
      });
    });
    client.on("user-unpublished", function (user, mediaType) {
      if (mediaType === "video") {
        removeTile(user.uid);
      }
    });
    client.on("user-left", function (user) {
      removeTile(user.uid);
    });
    client.on("token-privilege-will-expire", function () {
      requestRenew();
    });
    client.on("token-privilege-did-expire", function () {
      video.joined = false;
      video.needRejoin = true;
      setVideoStatus("Video paused while access is renewed…");
      requestRenew();
    });
    client.on("connection-state-change", function (cur) {
      if (cur === "RECONNECTING") {
        setVideoStatus("Video connection lost; reconnecting…");
      } else if (cur === "CONNECTED" && video.joined) {
        setVideoStatus(localStatus());
      }
    });

    joinVideo();
  }

  function joinVideo() {
    var client = video.client;
    if (!client || video.joining || leaving) {
      return;
    }
    video.joining = true;
    setVideoStatus("Connecting video…");
    client.join(session.app_id, session.channel, session.token, myUid).then(function () {
      video.joining = false;
      video.joined = true;
      video.needRejoin = false;
      if (leaving) {
        return stopVideo();
      }
      return publishLocal();
    }).catch(function (err) {
      video.joining = false;
      if (leaving) {
        return;
      }
      // A stale token is the usual cause: ask for a fresh one once and
      // join again when it arrives.
      if (!video.rejoinTried) {
        video.rejoinTried = true;
        video.needRejoin = true;
        requestRenew();
        return;
      }
      setVideoStatus("Video could not start (" + (agoraErrorCode(err) || "error") + "); presence and chat still work.");
    });
  }

  var localProblem = "";
  function localStatus() {
    return localProblem || "Video is on.";
  }

  // publishLocal captures the microphone and camera (both at once, so the
  // browser asks once) and falls back to whichever is available.
  function publishLocal() {
    var AgoraRTC = window.AgoraRTC;
    return AgoraRTC.createMicrophoneAndCameraTracks().then(function (tracks) {
      return { mic: tracks[0], cam: tracks[1], err: null };
    }, function (err) {
      var got = { mic: null, cam: null, err: err };
      return AgoraRTC.createMicrophoneAudioTrack().then(function (t) { got.mic = t; }, function () {})
        .then(function () {
          return AgoraRTC.createCameraVideoTrack().then(function (t) { got.cam = t; }, function () {});
        })
        .then(function () { return got; });
    }).then(function (got) {
      if (leaving) {
        closeTracks(got);
        return;
      }
      video.mic = got.mic;
      video.cam = got.cam;
      if (got.cam) {
        var tile = localTile();
        got.cam.play(tile.slot);
      }
      if (!got.mic && !got.cam) {
        localProblem = isPermissionError(got.err)
          ? "Camera and microphone access was denied, so others cannot see or hear you. You can still see others and chat; allow access in the browser and reload to share video."
          : "No camera or microphone could be used, so others cannot see or hear you. You can still see others and chat.";
      } else if (!got.cam) {
        localProblem = "Your camera is not available; others can hear you but not see you.";
      } else if (!got.mic) {
        localProblem = "Your microphone is not available; others can see you but not hear you.";
      } else {
        localProblem = "";
      }
      setVideoStatus(localStatus());
      var tracks = [got.mic, got.cam].filter(Boolean);
      if (tracks.length && video.client) {
        return video.client.publish(tracks).catch(function () {
          localProblem = "Your video could not be sent; you can still see others and chat.";
          setVideoStatus(localProblem);
        });
      }
    });
  }

  function closeTracks(t) {
    [t.mic, t.cam].forEach(function (track) {
      if (track) {
        try {
          track.stop();
          track.close();
        } catch (e) {
          /* already closed */
        }
      }
    });
  }

  function onToken(token, expiresAt) {
    if (typeof token !== "string" || !token) {
      return;
    }
    renewWanted = false;
    session.token = token;
    session.expires_at = typeof expiresAt === "number" ? expiresAt : null;
    try {
      window.sessionStorage.setItem("token", token);
      if (session.expires_at !== null) {
        window.sessionStorage.setItem("expires_at", String(session.expires_at));
      }
    } catch (e) {
      /* the in-memory copy is enough for this page */
    }
    scheduleRenew();
    if (!video.client) {
      return;
    }
    if (video.needRejoin && !video.joined) {
      joinVideo();
      return;
    }
    video.client.renewToken(token).catch(function () {
      toast("Could not renew video access; video may stop soon.");
    });
  }

  function stopVideo() {
    var client = video.client;
    closeTracks(video);
    video.mic = null;
    video.cam = null;
    video.client = null;
    localVideo.replaceChildren();
    remoteVideos.replaceChildren();
    if (!client) {
      return Promise.resolve();
    }
    return client.leave().catch(function () {});
  }

  // ---- Video tiles ----
  function makeTile(uid, label) {
    var tile = document.createElement("div");
    tile.className = "video-tile";
    tile.setAttribute("data-uid", String(uid));
    var slot = document.createElement("div");
    slot.className = "video-slot";
    var caption = document.createElement("span");
    caption.className = "tile-label";
    caption.textContent = label;
    tile.appendChild(slot);
    tile.appendChild(caption);
    return { el: tile, slot: slot, label: caption };
  }

  function localTile() {
    localVideo.replaceChildren();
    var slot = document.createElement("div");
    slot.className = "video-slot";
    var caption = document.createElement("span");
    caption.className = "tile-label";
    caption.textContent = session.name + " (you)";
    localVideo.appendChild(slot);
    localVideo.appendChild(caption);
    return { slot: slot };
  }

  function tileFor(uid) {
    var found = null;
    Array.prototype.forEach.call(remoteVideos.children, function (el) {
      if (el.getAttribute("data-uid") === String(uid)) {
        found = el;
      }
    });
    return found;
  }

  function ensureTile(uid) {
    var el = tileFor(uid);
    if (el) {
      return { el: el, slot: el.querySelector(".video-slot") };
    }
    var t = makeTile(uid, displayName(uid));
    remoteVideos.appendChild(t.el);
    return t;
  }

  function removeTile(uid) {
    var el = tileFor(uid);
    if (el) {
      el.remove();
    }
  }

  function updateTileLabels() {
    Array.prototype.forEach.call(remoteVideos.children, function (el) {
      var uid = Number(el.getAttribute("data-uid"));
      var label = el.querySelector(".tile-label");
      if (label) {
        label.textContent = displayName(uid);
      }
    });
  }

  // ---- Start ----
  setConn("connecting");
  renderRoster();
  connect();
})();
