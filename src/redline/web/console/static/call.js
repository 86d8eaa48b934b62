/* Voice and video on a call's page (docs/calls.md): plain WebRTC, signalled
 * through this node as signed statements.
 *
 * Each page that opens an answered call joins its media as a participant
 * (call-join). Every participant on the caller's side offers to every
 * participant on the called side that joined, and each such pair has its own
 * peer connection; the called side answers each offer addressed to it.
 * Candidates are gathered before an offer or answer is posted, so the SDP
 * carries them. Before using the peer's SDP this page asks its node to check
 * the SDP's DTLS fingerprint against the peer's signed statement, and refuses
 * the media (and ends the call) when the node refuses.
 *
 * Recording needs both sides: the Record button signs this side's consent
 * (call-recording, on or off). While both sides' latest say on and the media
 * is connected, this page records the remote stream it receives
 * (MediaRecorder, webm) and uploads it to its own node in numbered chunks;
 * when either side turns it off or the call ends, it posts the end and the
 * node signs the file's SHA-256 (call-recording-file).
 *
 * window.redlineCall exposes the state (phase, error, participant,
 * fingerprints, stats summed over the connections, legStats per connection)
 * to the browser tests and to anyone at the console's developer tools.
 */
(function () {
  "use strict";
  var section = document.getElementById("media");
  if (!section || !window.RTCPeerConnection) { return; }
  var callId = section.dataset.call;
  var csrf = section.dataset.csrf;
  var wantVideo = section.dataset.mode === "video";
  var base = "/console/calls/" + encodeURIComponent(callId);
  var local = document.getElementById("local-media");
  var remotes = section.querySelector(".remote-videos");
  var remoteTemplate = document.getElementById("remote-template");
  var muteButton = document.getElementById("media-mute");
  var cameraButton = document.getElementById("media-camera");
  var recordButton = document.getElementById("media-record");
  var CHUNK_BYTES = 200 * 1024;  // under the node's 256 KB a chunk
  var GATHER_MS = 5000;
  var OVER = { ended: 1, declined: 1, missed: 1 };
  var source = null;

  function newParticipant() {
    var bytes = new Uint8Array(8);
    crypto.getRandomValues(bytes);
    return "p-" + Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  var call = {
    participant: newParticipant(), phase: "waiting", error: null, fingerprints: [],
    stats: {}, legStats: {}, legs: {}, stream: null, joined: false,
    busy: false, again: false, established: false, timer: null, statsTimer: null,
    marks: [],
    recording: { ours: false, theirs: false, now: false, recorder: null, chunks: 0,
      queue: Promise.resolve(), finished: false, statement: null, sha256: null }
  };
  window.redlineCall = call;

  // Where the time goes: [what, Date.now()] for each step (bench/call.py prints them).
  function mark(what) { call.marks.push([what, Date.now()]); }

  // Thrown when this browser has no media to join with: the call stays up, in text.
  function TextOnly() { this.message = "text only"; }

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
      fields.csrf = csrf;
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

  // -- recording, only with both sides' consent --------------------------------------

  function showRecording(view) {
    var rec = call.recording;
    var mine = view.party;
    var theirs = view.role === "caller" ? view.callee : view.caller;
    rec.ours = !!(view.recording && view.recording[mine]);
    rec.theirs = !!(view.recording && view.recording[theirs]);
    rec.now = !!view.recording_now;
    section.querySelectorAll(".rec-side").forEach(function (dd) {
      var on = dd.dataset.side === "ours" ? rec.ours : rec.theirs;
      dd.dataset.on = on ? "true" : "false";
      dd.querySelectorAll("[data-on-label]").forEach(function (el) {
        el.hidden = el.dataset.onLabel !== (on ? "true" : "false");
      });
    });
    recordButton.setAttribute("aria-pressed", rec.ours ? "true" : "false");
    section.querySelector(".recording-now").hidden = !rec.now;
    if (rec.now && call.phase === "connected") { startRecording(); }
    if (!rec.now) { stopRecording(); }
  }

  function upload(blob) {
    var rec = call.recording;
    for (var at = 0; at < blob.size; at += CHUNK_BYTES) {
      (function (piece, number) {
        rec.queue = rec.queue.then(function () {
          var q = "?participant=" + encodeURIComponent(call.participant) + "&chunk=" + number;
          return fetch(base + "/recording" + q, {
            method: "POST", credentials: "same-origin", body: piece,
            headers: { "X-CSRF-Token": csrf, "Content-Type": "application/octet-stream",
              Accept: "application/json" }
          }).then(function (r) {
            if (!r.ok) { return r.json().then(function (j) { rec.error = j.detail || j.title; }); }
          }).catch(function (e) { rec.error = e.message; });
        });
      }(blob.slice(at, at + CHUNK_BYTES), rec.chunks++));
    }
  }

  function finishRecording() {
    var rec = call.recording;
    if (rec.finished) { return; }
    rec.finished = true;
    rec.queue = rec.queue.then(function () {
      var q = "?participant=" + encodeURIComponent(call.participant) + "&final=1";
      return fetch(base + "/recording" + q, {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf, Accept: "application/json" }
      }).then(function (r) { return r.json(); }).then(function (j) {
        rec.statement = j.statement || null;
        rec.sha256 = j.sha256 || null;
        rec.done = true;
      }).catch(function (e) { rec.error = e.message; rec.done = true; });
    });
  }

  function startRecording() {
    var rec = call.recording;
    if (rec.recorder || rec.finished || !window.MediaRecorder) { return; }
    var keys = Object.keys(call.legs);
    var stream = keys.length ? call.legs[keys[0]].video.srcObject : null;
    if (!stream) { return; }
    var recorder = new MediaRecorder(stream, { videoBitsPerSecond: 400000, audioBitsPerSecond: 32000 });
    rec.recorder = recorder;
    recorder.addEventListener("dataavailable", function (e) {
      if (e.data && e.data.size > 0) { upload(e.data); }
    });
    recorder.addEventListener("stop", finishRecording);
    recorder.start(1000);
    rec.started = true;
  }

  function stopRecording() {
    var recorder = call.recording.recorder;
    if (recorder && recorder.state !== "inactive") { recorder.stop(); }
  }

  recordButton.addEventListener("click", function () {
    request("/recording-consent", { on: call.recording.ours ? "false" : "true" })
      .then(read).catch(function (e) { call.recording.error = e.message; });
  });

  function stop(phase, error) {
    stopRecording();
    recordButton.disabled = true;
    if (source) { source.close(); }
    Object.keys(call.legs).forEach(function (k) { call.legs[k].pc.close(); });
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
    request("/event", { action: "end", reason: "media refused: " + message.slice(0, 300) })
      .catch(function () { /* already over */ });
  }

  async function joinMedia() {
    if (call.joined) { return; }
    setPhase("connecting");
    if (!call.stream) {
      mark("answered seen");
      try {
        call.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: wantVideo });
      } catch (e) {
        // No microphone or camera here (or none allowed): the call is not
        // refused; it goes on as the text conversation below, on both sides.
        call.textOnly = true;
        setPhase("text-only", e.name + ": " + e.message);
        throw new TextOnly();
      }
      mark("camera open");
      local.srcObject = call.stream;
      muteButton.disabled = false;
      cameraButton.disabled = !wantVideo;
    }
    await request("/join", { participant: call.participant });
    mark("joined");
    call.joined = true;
    recordButton.disabled = false;
  }

  function openLeg(view, other, who) {
    var pc = new RTCPeerConnection({
      iceServers: view.ice.iceServers,
      iceTransportPolicy: view.ice.iceTransportPolicy
    });
    var figure = remoteTemplate.content.firstElementChild.cloneNode(true);
    figure.dataset.participant = other;
    figure.querySelector(".who").textContent = who || other;
    remotes.appendChild(figure);
    var leg = { pc: pc, video: figure.querySelector("video"), answered: false, previous: null };
    call.legs[other] = leg;
    call.stream.getTracks().forEach(function (t) { pc.addTrack(t, call.stream); });
    pc.addEventListener("track", function (e) { leg.video.srcObject = e.streams[0]; });
    pc.addEventListener("connectionstatechange", function () {
      if (pc.connectionState === "connected" && !call.established) {
        call.established = true;
        call.connectedAt = Date.now();  // bench/call.py reads it
        mark("connected");
        setPhase("connected");
        request("/established", { participant: call.participant })
          .catch(function (e) { call.error = e.message; });
        call.statsTimer = setInterval(quality, 2000);
      } else if (pc.connectionState === "failed" && call.phase !== "connected") {
        stop("refused", "the media path failed (no ICE candidate pair connected)");
      }
    });
    return leg;
  }

  async function checked(signal) {
    // The node holds the SDP we are about to use to the peer's signed statement.
    mark("peer's SDP seen");
    var j = await request("/check", { statement: signal.id, sdp: signal.sdp });
    mark("fingerprint checked");
    j.fingerprints.forEach(function (f) {
      if (call.fingerprints.indexOf(f) < 0) { call.fingerprints.push(f); }
    });
    section.querySelector(".fingerprints").hidden = false;
    section.querySelector(".fingerprint-values").textContent = call.fingerprints.join(", ");
  }

  async function post(kind, leg, to) {
    mark("gathering");
    await gathered(leg.pc);
    mark("gathered");
    await request("/signal", {
      kind: kind, sdp: leg.pc.localDescription.sdp,
      from_participant: call.participant, to_participant: to
    });
    mark(kind + " signed");
  }

  function operatorOf(view, participant) {
    var join = view.joins.find(function (j) { return j.participant === participant; });
    return join ? (join.operator || join.from) + " (" + join.from + ")" : participant;
  }

  async function step(view) {
    showRecording(view);
    if (OVER[view.state]) {
      if (call.phase !== "refused") { stop("ended"); }
      return;
    }
    if (view.state !== "answered" || call.phase === "refused") { return; }
    await joinMedia();
    var me = call.participant;
    var peer = view.role === "caller" ? view.callee : view.caller;
    if (view.role === "caller") {
      // Offer to every participant of the called side not yet offered to.
      for (var i = 0; i < view.joins.length; i++) {
        var join = view.joins[i];
        if (join.from !== peer || call.legs[join.participant]) { continue; }
        var leg = openLeg(view, join.participant, operatorOf(view, join.participant));
        await leg.pc.setLocalDescription(await leg.pc.createOffer());
        await post("call-offer", leg, join.participant);
      }
      for (var k = 0; k < view.answers.length; k++) {
        var answer = view.answers[k];
        var taker = call.legs[answer.from_participant];
        if (answer.to_participant !== me || !taker || taker.answered) { continue; }
        await checked(answer);
        taker.answered = true;
        await taker.pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
      }
    } else {
      for (var n = 0; n < view.offers.length; n++) {
        var offer = view.offers[n];
        if (offer.to_participant !== me || call.legs[offer.from_participant]) { continue; }
        await checked(offer);
        var back = openLeg(view, offer.from_participant, operatorOf(view, offer.from_participant));
        await back.pc.setRemoteDescription({ type: "offer", sdp: offer.sdp });
        await back.pc.setLocalDescription(await back.pc.createAnswer());
        await post("call-answer", back, offer.from_participant);
      }
    }
  }

  function read() {
    if (call.phase === "ended" || call.phase === "refused" || call.textOnly) { return; }
    if (call.busy) { call.again = true; return; }
    call.busy = true;
    request("/media").then(step).catch(function (e) {
      if (!(e instanceof TextOnly)) { refuse(e.message); }
    }).then(function () {
      call.busy = false;
      if (call.again) { call.again = false; read(); return; }
      if (call.phase !== "ended" && call.phase !== "refused") {
        clearTimeout(call.timer);
        call.timer = setTimeout(read, call.phase === "connected" ? 2000 : 1000);
      }
    });
  }

  async function legQuality(leg) {
    var report = await leg.pc.getStats();
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
    s.bitrate = leg.previous ? Math.round((s.bytesReceived - leg.previous.bytes) * 8000 / (now - leg.previous.at)) : null;
    leg.previous = { bytes: s.bytesReceived, at: now };
    return s;
  }

  async function quality() {
    var keys = Object.keys(call.legs);
    var all = await Promise.all(keys.map(function (k) { return legQuality(call.legs[k]); }));
    var sum = { rtt: null, packetsLost: 0, packetsReceived: 0, bytesReceived: 0,
      audioBytesReceived: 0, videoBytesReceived: 0, framesDecoded: 0, bitrate: null, localCandidateType: null };
    all.forEach(function (s, i) {
      call.legStats[keys[i]] = s;
      ["packetsLost", "packetsReceived", "bytesReceived", "audioBytesReceived",
        "videoBytesReceived", "framesDecoded"].forEach(function (f) { sum[f] += s[f]; });
      if (s.rtt !== null) { sum.rtt = Math.max(sum.rtt || 0, s.rtt); }
      if (s.bitrate !== null) { sum.bitrate = (sum.bitrate || 0) + s.bitrate; }
      sum.localCandidateType = sum.localCandidateType || s.localCandidateType;
    });
    var total = sum.packetsLost + sum.packetsReceived;
    sum.lossPercent = total ? (100 * sum.packetsLost / total) : 0;
    call.stats = sum;
    section.querySelector(".q-rtt").textContent = sum.rtt === null ? "—" : Math.round(sum.rtt * 1000) + " ms";
    section.querySelector(".q-loss").textContent = sum.lossPercent.toFixed(1) + " %";
    section.querySelector(".q-bitrate").textContent = sum.bitrate === null ? "—" : Math.round(sum.bitrate / 1000) + " kbit/s";
  }

  function toggle(button, kind) {
    if (!call.stream) { return; }
    var off = button.getAttribute("aria-pressed") !== "true";
    call.stream.getTracks().forEach(function (t) { if (t.kind === kind) { t.enabled = !off; } });
    button.setAttribute("aria-pressed", off ? "true" : "false");
  }
  muteButton.addEventListener("click", function () { toggle(muteButton, "audio"); });
  cameraButton.addEventListener("click", function () { toggle(cameraButton, "video"); });

  // Every statement about the call is announced on the live channel: read the
  // media at once (the page's fragments wait up to 500 ms between re-reads,
  // and each step of the signalling waits for the other side's statement).
  var topic = "call-" + callId;
  source = new EventSource("/console/events");
  source.addEventListener("changed", function (e) {
    var topics = [];
    try { topics = JSON.parse(e.data).topics || []; } catch (_) { /* a comment */ }
    if (topics.length === 0 || topics.indexOf(topic) >= 0) { read(); }
  });
  window.addEventListener("pagehide", function () {
    // Leaving the page (End call reloads it): what reached the node is the
    // recording; its end is posted with keepalive so that it outlives the page.
    var rec = call.recording;
    if (rec.recorder && !rec.finished) {
      rec.finished = true;
      fetch(base + "/recording?participant=" + encodeURIComponent(call.participant) + "&final=1", {
        method: "POST", credentials: "same-origin", keepalive: true,
        headers: { "X-CSRF-Token": csrf, Accept: "application/json" }
      });
    }
    source.close();
    stop("ended");
  });
  read();
}());
