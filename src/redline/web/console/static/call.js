/* Voice and video on a call's page (docs/calls.md): plain WebRTC, signalled
 * through this node as signed statements.
 *
 * The caller offers once the call is answered; the called side answers the
 * offer. Candidates are gathered before the offer or answer is posted, so the
 * SDP carries them. Before using the peer's SDP this page asks its node to
 * check the SDP's DTLS fingerprint against the peer's signed statement, and
 * refuses the media (and ends the call) when the node refuses.
 *
 * window.redlineCall exposes the state (phase, error, fingerprints, stats) to
 * the browser tests and to anyone at the console's developer tools.
 */
(function () {
  "use strict";
  var section = document.getElementById("media");
  if (!section || !window.RTCPeerConnection) { return; }
  var callId = section.dataset.call;
  var csrf = section.dataset.csrf;
  var wantVideo = section.dataset.mode === "video";
  var base = "/console/calls/" + encodeURIComponent(callId);
  var remote = document.getElementById("remote-media");
  var local = document.getElementById("local-media");
  var muteButton = document.getElementById("media-mute");
  var cameraButton = document.getElementById("media-camera");
  var GATHER_MS = 5000;
  var OVER = { ended: 1, declined: 1, missed: 1 };

  var call = {
    phase: "waiting", error: null, fingerprints: [], stats: {},
    pc: null, stream: null, used: null, posted: null, busy: false, again: false,
    established: false, timer: null, statsTimer: null, last: null
  };
  window.redlineCall = call;

  function setPhase(phase, error) {
    call.phase = phase;
    section.dataset.mediaState = phase;
    section.querySelectorAll(".media-state").forEach(function (el) {
      el.hidden = el.dataset.stateLabel !== phase;
    });
    if (error) {
      call.error = error;
      section.querySelector(".media-error").textContent = error;
    }
  }

  function request(path, fields) {
    var init = { headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (fields) {
      init.method = "POST";
      init.headers["X-CSRF-Token"] = csrf;
      init.headers["Content-Type"] = "application/x-www-form-urlencoded";
      init.body = new URLSearchParams(fields).toString();
    }
    return fetch(base + path, init).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) { throw new Error(j.detail || j.title || ("HTTP " + r.status)); }
        return j;
      });
    });
  }

  function gathered(pc) {
    return new Promise(function (resolve) {
      if (pc.iceGatheringState === "complete") { resolve(); return; }
      var done = setTimeout(resolve, GATHER_MS);
      pc.addEventListener("icegatheringstatechange", function () {
        if (pc.iceGatheringState === "complete") { clearTimeout(done); resolve(); }
      });
    });
  }

  function stop(phase, error) {
    if (call.pc) { call.pc.close(); }
    if (call.stream) { call.stream.getTracks().forEach(function (t) { t.stop(); }); }
    clearInterval(call.statsTimer);
    clearTimeout(call.timer);
    muteButton.disabled = true;
    cameraButton.disabled = true;
    setPhase(phase, error);
  }

  function refuse(message) {
    if (call.phase === "refused" || call.phase === "ended") { return; }
    stop("refused", message);
    // The call ends on the record, with the reason, so both sides see why.
    request("/event", { action: "end", reason: "media refused: " + message.slice(0, 300), csrf: csrf })
      .catch(function () { /* already over */ });
  }

  function open(view) {
    if (call.pc) { return Promise.resolve(call.pc); }
    setPhase("connecting");
    return navigator.mediaDevices.getUserMedia({ audio: true, video: wantVideo }).then(function (stream) {
      call.stream = stream;
      local.srcObject = stream;
      var pc = new RTCPeerConnection({
        iceServers: view.ice.iceServers,
        iceTransportPolicy: view.ice.iceTransportPolicy
      });
      call.pc = pc;
      stream.getTracks().forEach(function (t) { pc.addTrack(t, stream); });
      pc.addEventListener("track", function (e) { remote.srcObject = e.streams[0]; });
      pc.addEventListener("connectionstatechange", function () {
        if (pc.connectionState === "connected" && !call.established) {
          call.established = true;
          setPhase("connected");
          request("/established", { csrf: csrf }).catch(function (e) { call.error = e.message; });
          call.statsTimer = setInterval(quality, 2000);
        } else if (pc.connectionState === "failed") {
          stop("refused", "the media path failed (no ICE candidate pair connected)");
        }
      });
      muteButton.disabled = false;
      cameraButton.disabled = !wantVideo;
      return pc;
    });
  }

  function checked(signal) {
    // The node holds the SDP we are about to use to the peer's signed statement.
    return request("/check", { statement: signal.id, sdp: signal.sdp, csrf: csrf }).then(function (j) {
      call.fingerprints = j.fingerprints;
      section.querySelector(".fingerprints").hidden = false;
      section.querySelector(".fingerprint-values").textContent = j.fingerprints.join(", ");
    });
  }

  function post(kind, pc) {
    return gathered(pc).then(function () {
      return request("/signal", { kind: kind, sdp: pc.localDescription.sdp, csrf: csrf });
    }).then(function (j) { call.posted = j.statement; });
  }

  function step(view) {
    call.last = view;
    if (OVER[view.state]) {
      if (call.phase !== "refused") { stop("ended"); }
      return Promise.resolve();
    }
    if (view.state !== "answered" || call.phase === "refused") { return Promise.resolve(); }
    if (view.role === "caller") {
      if (!view.offer && !call.pc) {
        return open(view).then(function (pc) {
          return pc.createOffer().then(function (o) { return pc.setLocalDescription(o); })
            .then(function () { return post("call-offer", pc); });
        });
      }
      if (view.answer && call.used !== view.answer.id) {
        if (!call.pc) { throw new Error("this page did not make the offer; it cannot take the answer"); }
        return checked(view.answer).then(function () {
          call.used = view.answer.id;
          return call.pc.setRemoteDescription({ type: "answer", sdp: view.answer.sdp });
        });
      }
    } else if (view.offer && !view.answer && call.used !== view.offer.id) {
      var offer = view.offer;
      return checked(offer).then(function () { return open(view); }).then(function (pc) {
        call.used = offer.id;
        return pc.setRemoteDescription({ type: "offer", sdp: offer.sdp })
          .then(function () { return pc.createAnswer(); })
          .then(function (a) { return pc.setLocalDescription(a); })
          .then(function () { return post("call-answer", pc); });
      });
    }
    return Promise.resolve();
  }

  function read() {
    if (call.phase === "ended" || call.phase === "refused") { return; }
    if (call.busy) { call.again = true; return; }
    call.busy = true;
    request("/media").then(step).catch(function (e) { refuse(e.message); }).then(function () {
      call.busy = false;
      if (call.again) { call.again = false; read(); return; }
      if (call.phase !== "ended" && call.phase !== "refused") {
        clearTimeout(call.timer);
        call.timer = setTimeout(read, call.phase === "connected" ? 3000 : 1000);
      }
    });
  }

  var previous = null;
  function quality() {
    if (!call.pc) { return; }
    call.pc.getStats().then(function (report) {
      var s = { rtt: null, packetsLost: 0, packetsReceived: 0, bytesReceived: 0,
        audioBytesReceived: 0, videoBytesReceived: 0, framesDecoded: 0, localCandidateType: null };
      var pair = null;
      report.forEach(function (r) {
        if (r.type === "transport" && r.selectedCandidatePairId) { pair = report.get(r.selectedCandidatePairId); }
        if (r.type === "inbound-rtp") {
          s.packetsLost += r.packetsLost || 0;
          s.packetsReceived += r.packetsReceived || 0;
          s.bytesReceived += r.bytesReceived || 0;
          if (r.kind === "video") {
            s.videoBytesReceived += r.bytesReceived || 0;
            s.framesDecoded += r.framesDecoded || 0;
          } else { s.audioBytesReceived += r.bytesReceived || 0; }
        }
      });
      if (pair) {
        s.rtt = pair.currentRoundTripTime === undefined ? null : pair.currentRoundTripTime;
        var cand = report.get(pair.localCandidateId);
        s.localCandidateType = cand ? cand.candidateType : null;
      }
      var now = performance.now();
      s.bitrate = previous ? Math.round((s.bytesReceived - previous.bytes) * 8000 / (now - previous.at)) : null;
      previous = { bytes: s.bytesReceived, at: now };
      var total = s.packetsLost + s.packetsReceived;
      s.lossPercent = total ? (100 * s.packetsLost / total) : 0;
      call.stats = s;
      section.querySelector(".q-rtt").textContent = s.rtt === null ? "—" : Math.round(s.rtt * 1000) + " ms";
      section.querySelector(".q-loss").textContent = s.lossPercent.toFixed(1) + " %";
      section.querySelector(".q-bitrate").textContent = s.bitrate === null ? "—" : Math.round(s.bitrate / 1000) + " kbit/s";
    });
  }

  function toggle(button, kind) {
    if (!call.stream) { return; }
    var off = button.getAttribute("aria-pressed") !== "true";
    call.stream.getTracks().forEach(function (t) { if (t.kind === kind) { t.enabled = !off; } });
    button.setAttribute("aria-pressed", off ? "true" : "false");
  }
  muteButton.addEventListener("click", function () { toggle(muteButton, "audio"); });
  cameraButton.addEventListener("click", function () { toggle(cameraButton, "video"); });

  // The call's fragment is re-read on every statement about it: read the media then.
  document.body.addEventListener("htmx:afterSwap", function (e) {
    if (e.target && e.target.id === "live") { read(); }
  });
  window.addEventListener("pagehide", function () { if (call.pc) { call.pc.close(); } });
  read();
}());
