// Redline console: countdowns and alerts. No outside code; htmx does the rest.
// An alert (a FLASH message, a ringing call; other precedences unless muted)
// sounds, raises a desktop notification if permitted, and flashes the title
// until the operator marks it seen. <html data-alert> says which alert is
// showing, data-alerts-fired how many have fired (tests read both).
(function () {
  "use strict";
  var seenKey = "redline.seen";
  var flashing = null;
  var baseTitle = document.title;

  function seen() {
    try { return JSON.parse(sessionStorage.getItem(seenKey) || "[]"); } catch (e) { return []; }
  }
  function remember(ids) {
    try { sessionStorage.setItem(seenKey, JSON.stringify(seen().concat(ids).slice(-500))); } catch (e) { /* private mode */ }
  }
  function muted() {
    var box = document.getElementById("mute-others");
    return !!(box && box.checked);
  }

  function tick() {
    var body = document.body;
    var now = Date.now();
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("data-deadline"));
      if (isNaN(at)) { return; }
      var left = Math.round((at - now) / 1000);
      if (left <= 0) {
        el.textContent = body.getAttribute("data-overdue") || "overdue";
        el.classList.add("overdue");
        return;
      }
      var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
      var text = (h ? h + "h " + String(m).padStart(2, "0") + "m" : m + "m " + String(s).padStart(2, "0") + "s");
      el.textContent = text + " " + (body.getAttribute("data-left") || "left");
      el.classList.remove("overdue");
    });
  }

  function fire(fresh) {
    var root = document.documentElement;
    var level = fresh.some(function (el) { return el.getAttribute("data-alert-level") !== "other"; }) ? "flash" : "other";
    var text = fresh.map(function (el) { return el.getAttribute("data-alert-text") || ""; }).join(" · ");
    root.setAttribute("data-alert", level);
    root.setAttribute("data-alerts-fired", String(Number(root.getAttribute("data-alerts-fired") || "0") + 1));
    var banner = document.getElementById("alert-banner");
    if (banner) { banner.hidden = false; document.getElementById("alert-text").textContent = text; }
    // A ringing call is announced as a call, not as FLASH traffic.
    var calling = fresh.some(function (el) { return el.getAttribute("data-alert-level") === "call"; });
    var title = document.body.getAttribute(calling ? "data-call-title" : "data-alert-title") || "ALERT";
    var heading = document.getElementById("alert-heading");
    if (heading) { heading.textContent = title; }
    var sound = document.getElementById("alert-sound");
    if (sound) { try { var p = sound.play(); if (p && p.catch) { p.catch(function () {}); } } catch (e) { /* no autoplay */ } }
    if (window.Notification && Notification.permission === "granted") {
      try { new Notification(title, { body: text }); } catch (e) { /* not allowed here */ }
    }
    if (!flashing) {
      baseTitle = document.title;
      var on = false;
      flashing = setInterval(function () {
        on = !on;
        document.title = on ? "\u26a0 " + title : baseTitle;
      }, 700);
    }
  }

  function markSeen() {
    if (flashing) { clearInterval(flashing); flashing = null; document.title = baseTitle; }
    document.documentElement.removeAttribute("data-alert");
    var banner = document.getElementById("alert-banner");
    if (banner) { banner.hidden = true; }
  }

  function scan() {
    var known = seen();
    var fresh = [];
    document.querySelectorAll("[data-alert-id]").forEach(function (el) {
      var id = el.getAttribute("data-alert-id");
      if (known.indexOf(id) >= 0 || fresh.some(function (f) { return f.getAttribute("data-alert-id") === id; })) { return; }
      if (el.getAttribute("data-alert-level") === "other" && muted()) { return; }
      fresh.push(el);
    });
    if (fresh.length) {
      remember(fresh.map(function (el) { return el.getAttribute("data-alert-id"); }));
      fire(fresh);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var mute = document.getElementById("mute-others");
    if (mute) {
      mute.checked = localStorage.getItem("redline.mute") === "1";
      mute.addEventListener("change", function () { localStorage.setItem("redline.mute", mute.checked ? "1" : "0"); });
    }
    var ask = document.getElementById("enable-notifications");
    if (ask) {
      ask.addEventListener("click", function () { if (window.Notification) { Notification.requestPermission(); } });
    }
    var ok = document.getElementById("alert-seen");
    if (ok) { ok.addEventListener("click", markSeen); }
    tick();
    scan();
    setInterval(tick, 1000);
  });
  document.addEventListener("htmx:afterSwap", function () { tick(); scan(); });
  // A call that starts ringing takes the keyboard focus to its Answer button
  // (the panel is modal), once per call.
  var focusedCall = null;
  document.addEventListener("htmx:afterSwap", function (evt) {
    if (!evt.detail.target || evt.detail.target.id !== "ringing") { return; }
    var panel = evt.detail.target.querySelector(".ringing-takeover");
    var id = panel ? panel.getAttribute("data-call") : null;
    if (id && id !== focusedCall) {
      focusedCall = id;
      var answer = document.getElementById("answer-call");
      if (answer) { answer.focus(); }
    }
  });

  // Live re-reads. Each event names the topics of the statement stored
  // (service/live.py); a fragment re-reads only for a topic it shows: at once
  // if it has not re-read in the last MIN_GAP ms, else at the end of that
  // window, once however many events a burst brings (the last one is never
  // lost: a re-read is put off, not dropped). The first event of every
  // stream (no topics: the console (re)connected) re-reads everything. A
  // fragment may list its topics in data-live; otherwise they follow from the
  // fragment it reads, and an unknown one hears everything. The re-read is
  // htmx's own request (htmx.ajax), so htmx queues it behind one in flight and
  // the fragment's hx-trigger delay, meant for the unfiltered events, is not
  // added to it.
  var MIN_GAP = 500;
  function topicsOf(el) {
    var own = el.getAttribute("data-live");
    if (own) { return own.split(/\s+/); }
    var url = el.getAttribute("hx-get") || "";
    var m = url.match(/^\/console\/fragments\/messages\/([0-9a-f]+)$/);
    if (m) { return ["message-" + m[1]]; }
    var name = url.replace(/^\/console\/fragments\//, "");
    return {
      nav: ["messages"],
      inbox: ["messages"],
      now: ["messages", "hotline"],
      requests: ["hotline"],
      calls: ["hotline"],
      ringing: ["hotline"]
    }[name] || ["*"];
  }
  function concerns(el, data) {
    if (!data || !data.topics) { return true; }
    var wanted = topicsOf(el);
    if (wanted.indexOf("*") >= 0) { return true; }
    return data.topics.some(function (t) { return wanted.indexOf(t) >= 0; });
  }
  function reread(el) {
    var st = el.redlineLive || (el.redlineLive = { last: 0, timer: null });
    if (st.timer) { return; }  // one is due already, and will read this too
    st.timer = setTimeout(function () {
      st.timer = null;
      st.last = Date.now();
      el.setAttribute("data-rereads", String(Number(el.getAttribute("data-rereads") || "0") + 1));
      htmx.ajax("GET", el.getAttribute("hx-get"), {
        source: el, target: el, swap: el.getAttribute("hx-swap") || "innerHTML"
      });
    }, Math.max(0, st.last + MIN_GAP - Date.now()));
  }
  // Captured on the document, before htmx's own listener on the fragment.
  document.addEventListener("sse:changed", function (evt) {
    evt.stopPropagation();
    var data = null;
    try { data = JSON.parse((evt.detail && evt.detail.data) || "null"); } catch (e) { data = null; }
    var el = evt.target;
    if (el instanceof Element && el.getAttribute("hx-get") && concerns(el, data)) { reread(el); }
  }, true);
  // A live re-read must not wipe what the operator is typing (a decline's reason):
  // that swap waits for the next event.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var active = document.activeElement;
    var target = evt.detail.target;
    if (active && target && target.contains(active) && (active.value || "") !== "" &&
        (active.tagName === "INPUT" || active.tagName === "TEXTAREA")) {
      evt.detail.shouldSwap = false;
    }
  });
})();
