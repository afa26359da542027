/* TaxiConnect dispatcher console: login, the live queue and the request detail.
 *
 * Plain JavaScript, no build step, nothing loaded from elsewhere. Everything a passenger wrote
 * (names, messages, addresses) is untrusted and only ever reaches the page as textContent.
 *
 * Live updates: the websocket is opened first and the queue is loaded only after its `hello`,
 * while events are buffered; the buffer is applied once the list has arrived, so nothing
 * committed between the two is missed. A reconnect resumes with ?last_event_id=...
 *
 * The reply composer lives in composer.js (segments.js counts its SMS segments); this file
 * shows what became of each reply, its delivery states patched in live.
 */
"use strict";

(() => {
  const words = window.TaxiConnect.words; // web/words.js: the page catalogue, loaded at boot
  // The console's words and those of the scripts that take its `t` (queue.js, composer.js...).
  const t = words.scope("console", "queue", "composer", "callbacks", "order", "attachments",
    "groups", "history", "notify", "notices", "shortcuts", "viewers");

  const LOCALES = { fi: "fi-FI", en: "en-GB" };
  const LANG_KEY = "taxiconnect.console.lang";
  const RECONNECT_FIRST_MS = 1000;
  const RECONNECT_MAX_MS = 30000;
  const LOAD_RETRY_MS = 3000;
  // A socket can die without a close (Wi-Fi gone): unanswered pings end it and reconnect.
  const PING_EVERY_MS = 25000;
  const PING_FRAME = '{"type":"ping"}'; // the hub answers exactly this with {"type":"pong"}
  const PRESENCE_PROTOCOL = "taxiconnect.presence"; // dispatch/console_ws.py: presence frames
  const CLOSE_SESSION_ENDED = 4401; // the hub closes a console whose session ended
  const DETAIL_REFRESH_MS = 150; // coalesces a burst of events for the open request
  // A queue render waits for the next frame; a hidden tab has none, so this timer renders
  // instead (browsers run it at most once a second there).
  const RENDER_FALLBACK_MS = 200;
  const AGENTS_MAX_AGE_MS = 60000;
  const CLOCK_SKEW_MS = 2000; // the Date header has 1 s resolution: correct only real skew
  const OPEN = new Set(["new", "queued", "claimed"]);
  // Events by which a request may first reach a console (an offer lane offers at once).
  const NEWS = new Set(["request.queued", "request.offer", "request.message",
    "request.callback"]);
  const DETAIL_KEYS = ["pickup_address", "destination", "pickup_time", "passengers"];
  const TIMESTAMPS = ["case_started_at", "queued_at", "service_started_at",
    "first_response_at", "ended_at"];
  const DURATIONS = ["processing_delay_s", "queue_wait_s", "total_service_time_s"];
  const ACTIONS = ["claim", "resolve", "release", "reopen"];
  const DELIVERY_STATES = new Set(["queued", "sent", "delivered", "failed"]);
  const ISO_FRACTION = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)$/;
  const TEL = /^\+?[0-9]{3,20}$/; // what a tel: link is made of; anything else stays text
  // A ring is over by then: answered or given up on another console, or its hang-up lost.
  const CALLER_NOTICE_MS = 60000;
  const CALL_OVER = new Set(["call.answered", "call.ended", "request.callback"]);
  // The widget repeats "typing" every 2 s while the passenger types, and says when they stop.
  const PASSENGER_TYPING_MS = 6000;
  const EPHEMERAL = new Set(["chat.typing"]); // events that change nothing in the detail
  // The text hub/calls.py gives a call's contact, shown as the console's own words.
  const CALL_BODIES = { "Incoming call": "call_in", "Outgoing call": "call_out" };
  // Hang-up causes of the phone adapters (generic CTI, Twilio, Asterisk) in plain words.
  const CAUSES = {
    cancel: "cancel", canceled: "cancel", abandon: "abandon", noAnswer: "noAnswer",
    "no-answer": "noAnswer", busy: "busy", congestion: "congestion", notFound: "notFound",
    failed: "failed", normalClearing: "normalClearing", completed: "normalClearing",
    endedUnseen: "endedUnseen",
  };
  const SVG_NS = "http://www.w3.org/2000/svg";
  const ICONS = { // 24x24 outlines, drawn with the text colour
    phone: "M5 4h4l2 5-2.5 1.5a11 11 0 0 0 5 5L15 13l5 2v4a2 2 0 0 1-2 2A16 16 0 0 1 3 6a2 2 0 0 1 2-2",
    chat: "M3 20l1.3-3.9A9 8 0 1 1 7.7 19L3 20M8 11h.01M12 11h.01M16 11h.01",
    sms: "M8 9h8M8 13h6M18 4a3 3 0 0 1 3 3v8a3 3 0 0 1-3 3h-5l-5 3v-3H6a3 3 0 0 1-3-3V7a3 3 0 0 1 3-3z",
    email: "M3 7a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2zM3 7l9 6 9-6",
    webform: "M14 3v4a1 1 0 0 0 1 1h4M17 21H7a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h7l5 5v11a2 2 0 0 1-2 2"
      + "zM9 13h6M9 17h6",
  };

  const state = {
    lang: "fi",
    me: null,
    requests: new Map(), // id -> summary, open requests only
    versions: new Map(), // id -> highest version seen, resolved ones too
    rows: new Map(), // id -> a row of the queue's table (buildRow), for each request shown
    order: [], // the ids of the rows in the table, in its order
    held: null, // who holds what, as the colleagues' list last showed it (heldKey)
    fresh: new Set(), // ids that arrived live, highlighted once
    selectedId: null,
    detail: null,
    detailSeq: 0,
    detailTimer: null,
    detailMissing: false,
    busy: false,
    ws: null,
    wsWanted: false,
    connection: "offline",
    lastEventId: null,
    backoffMs: RECONNECT_FIRST_MS,
    reconnectTimer: null,
    pingTimer: null,
    pongPending: false,
    needsLoad: true,
    loading: false,
    loadFailed: false,
    loadSeq: 0,
    buffer: [],
    clockOffsetMs: 0,
    agents: null,
    agentsAt: 0,
    deliveries: new Map(), // delivery id -> newest known, for the open request
    callers: new Map(), // call id -> {call, request, caller, timer, node}: ringing now
    typing: new Map(), // request id -> timer: the passenger is typing in the chat
    audio: new Map(), // recording id -> its <audio>, kept across renders of the open request
    detailDue: null, // the open callback's due time, ticking: {node, callback, open}
  };

  let composer = null; // composer.js, made at boot
  let presence = null; // presence.js: one's own state and the colleagues popover
  let viewers = null; // viewers.js: colleagues who have the open request on screen
  let queueView = null; // queue.js: lanes, filters, search, order, waiting colours, offers
  let notifier = null; // notify.js: sound and desktop notifications
  let groups = null; // groups.js: the group message dialog, group deliveries in brief
  let callbacks = null; // callbacks.js: "call now" and the outcome on the callback box
  let order = null; // order.js: "Send order" under the request's details
  let attachments = null; // attachments.js: mailed files under their message
  let notices = null; // notices.js: service notice banners, publishing one, the history
  // A page of the open queue (dispatch/requests_api.py): each answer stays small and fast
  // whatever the queue holds, and next_cursor leads on until the last open request.
  const QUEUE_PAGE = 500;

  const $ = (id) => document.getElementById(id);

  // ---- words ---------------------------------------------------------------------------

  /** The words of `key` as nodes, each value in a <bdi> of its own: a name with an unclosed
   * right-to-left mark cannot turn the words around it, and a long one can break. */
  function tIsolated(key, values) {
    return t.raw(key, values).split(/(\{\w+\})/).filter(Boolean).map((part) => {
      const name = /^\{(\w+)\}$/.exec(part)?.[1];
      return name && name in values ? el("bdi", {}, String(values[name])) : part;
    });
  }

  function initialLanguage() {
    try {
      const stored = localStorage.getItem(LANG_KEY);
      if (words.LANGUAGES.includes(stored)) return stored;
    } catch (_) { /* storage blocked: fall back to the browser's language */ }
    return (navigator.language || "").toLowerCase().startsWith("fi") ? "fi" : "en";
  }

  async function setLanguage(lang) {
    if (!words.LANGUAGES.includes(lang)) return;
    state.lang = await words.use(lang);
    try { localStorage.setItem(LANG_KEY, lang); } catch (_) { /* not remembered, still used */ }
    // What was announced is said and gone: left in the old language it would be read again.
    $("action-done").textContent = "";
    $("announcer").textContent = "";
    applyStaticText();
    renderAll();
    for (const [id, notice] of state.callers) {
      const node = callerNotice(id, notice);
      notice.node.replaceWith(node);
      notice.node = node;
    }
  }

  function applyStaticText() {
    document.documentElement.lang = state.lang;
    for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const el of document.querySelectorAll("[data-i18n-label]")) {
      el.setAttribute("aria-label", t(el.dataset.i18nLabel));
    }
    for (const el of document.querySelectorAll("[data-i18n-placeholder]")) {
      el.setAttribute("placeholder", t(el.dataset.i18nPlaceholder));
    }
    for (const el of document.querySelectorAll("[data-i18n-title]")) {
      el.setAttribute("title", t(el.dataset.i18nTitle));
    }
    for (const button of document.querySelectorAll(".lang-btn")) {
      button.setAttribute("aria-pressed", String(button.dataset.lang === state.lang));
    }
    if (state.me) { // the name alone: the header must fit a laptop screen
      $("whoami").textContent = state.me.name;
      $("whoami").title = t("signed_in_as", { name: state.me.name });
    }
    setConnection(state.connection);
  }

  function channelLabel(channel, short = false) {
    const key = `${short ? "short" : "channel"}_${channel}`;
    return t.has(key) ? t(key) : String(channel ?? "");
  }

  function statusLabel(status) {
    return t.has(`status_${status}`) ? t(`status_${status}`) : String(status ?? "");
  }

  function previewOf(request) {
    const preview = request.preview || "";
    // Whatever the request's channel: a call can join a request that came by form or SMS.
    return CALL_BODIES[preview] ? t(CALL_BODIES[preview]) : preview;
  }

  function passengerLabel(request) {
    const contact = request.contact || {};
    const phone = (contact.phones || [])[0];
    return contact.name || (phone && formatPhone(phone)) || (contact.emails || [])[0]
      || t("unknown_passenger");
  }

  /** A number as dispatchers read it (phone.js: one formatter for the whole console). */
  function formatPhone(number) {
    return window.TaxiConnect.formatPhone(number);
  }

  // ---- time ------------------------------------------------------------------------------

  function now() {
    return Date.now() + state.clockOffsetMs;
  }

  function noteClock(response) {
    const served = Date.parse(response.headers.get("Date") || "");
    if (Number.isNaN(served)) return;
    const offset = served + 500 - Date.now();
    state.clockOffsetMs = Math.abs(offset) > CLOCK_SKEW_MS ? offset : 0;
  }

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  /** Seconds as mm:ss, or h:mm:ss from an hour up. */
  function formatDuration(seconds) {
    const total = Math.max(0, Math.floor(seconds));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    return h ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
  }

  function waitedSeconds(request) {
    const started = Date.parse(request.timings?.case_started_at || "");
    return Number.isNaN(started) ? 0 : (now() - started) / 1000;
  }

  function formatDateTime(iso) {
    const when = new Date(iso);
    if (Number.isNaN(when.getTime())) return String(iso);
    return new Intl.DateTimeFormat(LOCALES[state.lang], {
      dateStyle: "short", timeStyle: "medium",
    }).format(when);
  }

  /** A callback's deadline in words: hours and minutes, with the date when it is not today
   * (a deadline's precision); the words around them ("klo") are the catalogue's. */
  function dueWords(iso, overdue) {
    const key = overdue ? "callback_overdue" : "callback_due";
    const when = new Date(iso);
    if (Number.isNaN(when.getTime())) return t(key, { time: String(iso) });
    const locale = LOCALES[state.lang];
    const time = new Intl.DateTimeFormat(locale, { timeStyle: "short" }).format(when);
    if (new Date(now()).toDateString() === when.toDateString()) return t(key, { time });
    const date = new Intl.DateTimeFormat(locale, { dateStyle: "short" }).format(when);
    return t(`${key}_day`, { date, time });
  }

  function formatClock(iso) {
    const when = new Date(iso);
    if (Number.isNaN(when.getTime())) return String(iso);
    const today = new Date(now()).toDateString() === when.toDateString();
    const options = today ? { timeStyle: "medium" } : { dateStyle: "short", timeStyle: "short" };
    return new Intl.DateTimeFormat(LOCALES[state.lang], options).format(when);
  }

  // ---- DOM helpers -------------------------------------------------------------------------

  /** An element with attributes and children; strings become text nodes, never markup. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "className") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function timeEl(iso, text) {
    return el("time", { datetime: iso, "data-user-text": true }, text);
  }

  /** Marks what a node shows as data (a passenger's name, a message, an agent), not words of
   * the page: the catalogue test (tests/catalogue_check.py) leaves it out. */
  function userText(node, isData = true) {
    if (node.hasAttribute("data-user-text") !== isData) {
      node.toggleAttribute("data-user-text", isData);
    }
  }

  /** The channel's pictogram, beside its name (never instead of it). */
  function channelIcon(channel) {
    const d = ICONS[channel];
    if (!d) return null;
    const svg = document.createElementNS(SVG_NS, "svg");
    for (const [name, value] of [["viewBox", "0 0 24 24"], ["aria-hidden", "true"],
      ["focusable", "false"], ["class", "icon"]]) svg.setAttribute(name, value);
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    svg.append(path);
    return svg;
  }

  function announce(text) {
    const region = $("announcer");
    region.textContent = "";
    // A fresh text node a moment later makes screen readers read it even when it repeats.
    window.setTimeout(() => { region.textContent = text; }, 50);
  }

  // ---- HTTP --------------------------------------------------------------------------------

  /** An error answer of the hub; its message is the catalogue's words for the body's code
   * in the page's language, or the hub's own reason when the catalogue has none. */
  class ApiError extends Error {
    constructor(status, body) {
      super(window.TaxiConnect.words.errorText(body, `HTTP ${status}`));
      this.status = status;
      this.body = body || {};
    }
  }

  async function api(method, path, body) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (_) {
      throw new ApiError(0, { error: t("error_network") });
    }
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (!response.ok) {
      const error = new ApiError(response.status, data);
      if (response.status === 401 && state.me && !path.startsWith("/api/v1/auth/")) {
        sessionEnded();
      }
      throw error;
    }
    return { data, response };
  }

  // ---- session -----------------------------------------------------------------------------

  function showLogin(message) {
    $("console-view").hidden = true;
    $("login-view").hidden = false;
    $("login-error").textContent = message || "";
    $("login-user").focus();
  }

  async function onLogin(event) {
    event.preventDefault();
    const login = $("login-user").value.trim();
    const password = $("login-password").value;
    const error = $("login-error");
    if (!login || !password) {
      error.textContent = t("login_missing");
      (login ? $("login-password") : $("login-user")).focus();
      return;
    }
    const submit = $("login-submit");
    submit.disabled = true;
    error.textContent = "";
    try {
      const { data } = await api("POST", "/api/v1/auth/login", { login, password });
      $("login-password").value = "";
      startConsole(data.agent);
    } catch (err) {
      error.textContent = err.status === 401 ? t("login_failed")
        : err.status === 503 ? t("login_locked")
          : err.status === 0 ? t("error_network") : err.message;
      $("login-password").select();
      $("login-password").focus();
    } finally {
      submit.disabled = false;
    }
  }

  async function onLogout() {
    try { await api("POST", "/api/v1/auth/logout"); } catch (_) { /* ended either way */ }
    stopConsole();
    showLogin("");
  }

  function sessionEnded() {
    stopConsole();
    showLogin(t("session_ended"));
  }

  function startConsole(agent) {
    state.me = agent;
    $("login-view").hidden = true;
    $("console-view").hidden = false;
    $("whoami").hidden = false;
    $("logout").hidden = false;
    $("connection-state").hidden = false;
    applyStaticText();
    renderQueue();
    renderDetail();
    connect();
    if (agent.role !== "external") presence.start();
    notifier.start(); // this dispatcher's own choice of sound and notification
    $("admin-link").hidden = agent.role !== "admin"; // web/admin: accounts, admins only
    $("reports-link").hidden = agent.role === "external"; // web/reports: admins and team
    $("queue-heading").focus();
  }


  function stopConsole() {
    $("admin-link").hidden = true;
    $("reports-link").hidden = true;
    state.wsWanted = false;
    window.clearTimeout(state.reconnectTimer);
    window.clearTimeout(state.detailTimer);
    window.clearInterval(state.pingTimer);
    if (state.ws) {
      const ws = state.ws;
      state.ws = null;
      ws.close(1000, "logout");
    }
    $("note-text").value = "";
    $("action-error").textContent = "";
    composer.forget();
    presence.stop();
    notifier.stop();
    notices?.stop();
    queueView.reset();
    state.deliveries.clear();
    for (const id of [...state.callers.keys()]) dropCaller(id);
    for (const timer of state.typing.values()) window.clearTimeout(timer);
    state.typing.clear();
    state.audio.clear();
    state.me = null;
    state.lastEventId = null;
    state.needsLoad = true;
    state.loading = false;
    state.loadSeq += 1;
    state.buffer = [];
    state.requests.clear();
    state.fresh.clear();
    state.selectedId = null;
    state.detail = null;
    state.agents = null;
    for (const [id, row] of state.rows) dropRow(id, row);
    state.order = [];
    state.held = null;
    $("whoami").hidden = true;
    $("logout").hidden = true;
    $("connection-state").hidden = true;
    setConnection("offline");
    document.title = "TaxiConnect";
  }

  // ---- websocket ---------------------------------------------------------------------------

  function setConnection(value) {
    state.connection = value;
    const box = $("connection-state");
    box.dataset.state = value;
    $("connection-text").textContent = t(`conn_${value}`);
  }

  function connect() {
    state.wsWanted = true;
    window.clearTimeout(state.reconnectTimer);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let url = `${scheme}//${location.host}/api/v1/console/ws`;
    if (state.lastEventId) url += `?last_event_id=${encodeURIComponent(state.lastEventId)}`;
    if (state.connection !== "reconnecting") setConnection("connecting");
    const ws = new WebSocket(url, [PRESENCE_PROTOCOL]); // colleagues' presence frames too
    state.ws = ws;
    state.pongPending = false;
    ws.addEventListener("message", (event) => {
      if (state.ws === ws) onFrame(event.data);
    });
    ws.addEventListener("close", (event) => {
      if (event.code === CLOSE_SESSION_ENDED && state.ws === ws) {
        state.ws = null;
        sessionEnded();
        return;
      }
      dropSocket(ws);
    });
    window.clearInterval(state.pingTimer);
    state.pingTimer = window.setInterval(() => {
      if (state.ws !== ws) return;
      if (state.pongPending) {
        dropSocket(ws);
        return;
      }
      if (ws.readyState === WebSocket.OPEN) {
        state.pongPending = true;
        ws.send(PING_FRAME);
      }
    }, PING_EVERY_MS);
  }

  function dropSocket(ws) {
    if (state.ws !== ws) return;
    state.ws = null;
    window.clearInterval(state.pingTimer);
    if (ws.readyState !== WebSocket.CLOSED) ws.close();
    if (state.wsWanted) scheduleReconnect();
  }

  function scheduleReconnect() {
    setConnection("reconnecting");
    const delay = state.backoffMs;
    state.backoffMs = Math.min(state.backoffMs * 2, RECONNECT_MAX_MS);
    window.clearTimeout(state.reconnectTimer);
    state.reconnectTimer = window.setTimeout(async () => {
      if (!state.wsWanted) return;
      try {
        await api("GET", "/api/v1/me"); // a closed socket may mean an ended session
      } catch (err) {
        if (err.status === 401) return; // api() has shown the login
      }
      if (state.wsWanted && !state.ws) connect();
    }, delay);
  }

  function onFrame(raw) {
    let frame;
    try { frame = JSON.parse(raw); } catch (_) { return; }
    if (!frame || typeof frame !== "object") return;
    if (frame.type === "pong") {
      state.pongPending = false;
    } else if (frame.type === "presence" && frame.event && typeof frame.event === "object") {
      if (!viewers?.apply(frame.event)) presence.apply(frame.event);
    } else if (frame.type === "hello") {
      state.backoffMs = RECONNECT_FIRST_MS;
      if (typeof frame.last_event_id === "string") state.lastEventId = frame.last_event_id;
      setConnection("live");
      if (state.me && state.me.role !== "external") presence.load(); // missed while away
      queueView.loadLanes();
      notices?.load(); // notices published or ended while away
      if (state.needsLoad) loadQueue();
    } else if (frame.type === "events" && Array.isArray(frame.events)) {
      const arrived = [];
      for (const event of frame.events) {
        if (!event || typeof event !== "object") continue;
        if (typeof event.id === "string") state.lastEventId = event.id;
        if (state.loading) state.buffer.push(event);
        else if (applyEvent(event)) arrived.push(event.request);
      }
      notifier.arrived(arrived.filter((request) => state.requests.has(request.id)));
      if (!state.loading) scheduleRender();
    } else if (frame.type === "resync") {
      // The hub skipped events: the reload covers them and everything buffered before.
      if (typeof frame.last_event_id === "string") state.lastEventId = frame.last_event_id;
      state.buffer = [];
      state.backoffMs = RECONNECT_FIRST_MS;
      setConnection("live");
      if (state.me && state.me.role !== "external") presence.load();
      notices?.load();
      loadQueue();
    }
  }

  /** Upsert the event's request summary; a resolved request leaves the open queue. */
  function applyEvent(event) {
    if (notices?.apply(event)) return false; // notice.published / notice.ended: no request
    const request = event.request;
    if (!request || typeof request !== "object" || typeof request.id !== "string") return;
    noteCall(event);
    if (event.type === "chat.typing") passengerTyping(request.id, event.typing === true);
    else if (event.type === "request.message") passengerTyping(request.id, false);
    // A delivery is ordered by its own time, not by the request's version.
    const patched = event.type === "message.delivery" && patchDelivery(event);
    // Events can arrive out of order (a republished one, two hub processes): keep the newest.
    if (!isNewer(request)) return false;
    if (event.type === "request.offer") notifier.offer(request);
    const known = state.requests.has(request.id);
    if (OPEN.has(request.status)) {
      state.requests.set(request.id, request);
      if (!known && event.type === "request.queued") {
        state.fresh.add(request.id);
        announce(t("announce_new", {
          ref: request.reference, name: passengerLabel(request),
          channel: channelLabel(request.channel),
        }));
      }
    } else {
      state.requests.delete(request.id);
    }
    if (request.id === state.selectedId && !patched && !EPHEMERAL.has(event.type)) {
      scheduleDetailRefresh();
    }
    return !known && NEWS.has(event.type) && OPEN.has(request.status); // a request new here
  }

  function isNewer(request) {
    if (typeof request.version !== "number") return true;
    const seen = state.versions.get(request.id);
    if (seen !== undefined && request.version < seen) return false;
    state.versions.set(request.id, request.version);
    return true;
  }

  async function loadQueue() {
    const seq = ++state.loadSeq;
    state.needsLoad = false;
    state.loading = true;
    renderQueue();
    let found;
    try {
      found = [];
      let cursor = null;
      do {
        const after = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
        const path = `/api/v1/requests?limit=${QUEUE_PAGE}${after}`;
        const { data, response } = await api("GET", path);
        if (seq !== state.loadSeq) return; // a newer load took over
        noteClock(response);
        found.push(...data.requests);
        cursor = data.next_cursor;
      } while (cursor);
    } catch (err) {
      if (seq !== state.loadSeq || err.status === 401) return;
      state.loadFailed = true;
      renderQueue();
      window.setTimeout(() => { if (seq === state.loadSeq) loadQueue(); }, LOAD_RETRY_MS);
      return; // keep buffering: the retry's list plus the buffer leave no gap
    }
    if (seq !== state.loadSeq) return;
    state.requests = new Map(found.filter(isNewer).map((request) => [request.id, request]));
    notifier.known(found); // on screen at once: nothing to ring for
    state.loading = false;
    state.loadFailed = false;
    const buffered = state.buffer;
    state.buffer = [];
    const arrived = buffered.filter(applyEvent).map((event) => event.request);
    notifier.arrived(arrived.filter((request) => state.requests.has(request.id)));
    renderQueue();
    presence.render();
    if (state.selectedId) scheduleDetailRefresh();
  }

  // ---- callback requests ---------------------------------------------------------------------

  /** What a callback request promises, from the details hub/calls.py keeps (all strings);
   * null for any other request. A chat left while nobody was there is one too. */
  function callbackOf(request) {
    const details = request.details || {};
    if (details.callback !== "true") return null;
    const phones = [...(request.contact?.phones || [])].reverse();
    const number = [details.callback_number, ...phones].find(
      (found) => typeof found === "string" && TEL.test(found)) || "";
    const missed = Number.parseInt(details.missed_calls, 10);
    const attempts = Number.parseInt(details.callback_attempts, 10) || 0; // callbacks.js
    const due = Date.parse(details.callback_due_at || "");
    return { number, missed: Number.isNaN(missed) ? 0 : missed,
      dueIso: details.callback_due_at, due: Number.isNaN(due) ? null : due, attempts };
  }

  /** The number, the missed calls and the due time, as nodes; `due` ticks. A callback with
   * neither count nor deadline (a chat message) shows what the passenger wrote. */
  function callbackLine(callback, preview) {
    const nodes = [];
    const add = (node) => nodes.push(...(nodes.length ? [" · "] : []), node);
    if (callback.number) {
      add(el("bdi", { className: "callback-number num", "data-testid": "callback-number" },
        formatPhone(callback.number)));
    }
    if (callback.missed > 0) {
      add(el("span", { "data-testid": "callback-missed" },
        t("callback_missed", { count: callback.missed })));
    }
    if (callback.attempts > 0) {
      add(el("span", { "data-testid": "callback-attempts" },
        t("callback_attempts", { count: callback.attempts })));
    }
    let due = null;
    if (callback.due !== null) {
      const node = el("time", { className: "callback-due", datetime: callback.dueIso,
        "data-testid": "callback-due" });
      add(node);
      due = { node, callback };
    }
    if (!callback.missed && callback.due === null && preview) {
      add(el("span", { "data-user-text": true }, preview));
    }
    return { nodes, due };
  }

  /** The due time, red and worded as overdue once it has passed on an open request. */
  function paintDue(node, callback, open) {
    const overdue = open && now() > callback.due;
    const text = dueWords(callback.dueIso, overdue);
    if (node.textContent !== text) node.textContent = text;
    node.classList.toggle("overdue", overdue);
    node.dataset.overdue = String(overdue);
  }

  function renderCallback(request) {
    const box = $("callback-box");
    const callback = callbackOf(request);
    state.detailDue = null;
    box.hidden = !callback;
    if (!callback) return;
    const line = callbackLine(callback, "");
    if (!callback.number) line.nodes.unshift(t("callback_no_number"), " · ");
    $("callback-facts").replaceChildren(...line.nodes);
    if (line.due) {
      state.detailDue = { ...line.due, open: request.status !== "resolved" };
      paintDue(line.due.node, callback, state.detailDue.open);
    }
    $("callback-call").replaceChildren(callback.number
      ? el("a", { className: "call-link", href: `tel:${callback.number}`,
        "data-testid": "callback-call" }, channelIcon("phone"), t("callback_call"), " ",
      el("span", { className: "num" }, formatPhone(callback.number)))
      : "");
    callbacks?.show(request, callback);
  }

  // ---- the queue -----------------------------------------------------------------------------
  //
  // One <tr> per request shown, kept while it is shown. A render fills again only the rows
  // whose summary changed in what they show (or whose selection, offer or language did), and
  // moves only the rows the new order needs moved. Frames of events ask for a render; it runs
  // once in the next animation frame however many arrived (scheduleRender). The waiting-time
  // tick writes only the text of the wait cells and their colour, and only of the rows on
  // screen (or nearly): every changed cell costs the table a layout.

  function isMine(request) {
    return Boolean(state.me && request.assigned_agent && request.assigned_agent.id === state.me.id);
  }

  function visibleRequests() {
    return queueView.visible(state.requests.values()); // queue.js: lane, filter, search
  }

  /** What a row shows of a summary (fillRow, tickRow and queue.js's fill read no more): a
   * newer summary that shows the same leaves its row alone. */
  function shownOf(request) {
    return JSON.stringify([request.reference, request.status, request.channel, request.lane,
      request.contact, request.preview, request.details, request.assigned_agent, request.offer,
      request.timings?.case_started_at]);
  }

  /** What else a row shows: whether it is open, whether it is mine, its offer, the words. */
  function rowViewOf(request) {
    const offer = queueView.offerOf(request);
    return `${state.lang} ${request.id === state.selectedId} ${state.me?.id}`
      + ` ${offer ? offer.mine : "none"}`;
  }

  // Rows within this of the queue's visible part tick; the others are brought up to the clock
  // as they scroll near, before they show.
  const NEAR_SCREEN = "400px 0px";
  const rowOfTr = new WeakMap(); // <tr> -> its row
  const nearScreen = new Set(); // rows whose waiting time ticks
  let screenWatch = null;

  function watchRow(row) {
    screenWatch ||= new IntersectionObserver((entries) => {
      for (const entry of entries) {
        const row = rowOfTr.get(entry.target);
        if (!row || !entry.isIntersecting || !row.tr.isConnected) { // gone, or far off
          nearScreen.delete(row);
        } else if (!nearScreen.has(row)) {
          nearScreen.add(row);
          if (row.request) tickWait(row, row.request);
        }
      }
    }, { root: $("queue-body").closest(".table-wrap"), rootMargin: NEAR_SCREEN });
    screenWatch.observe(row.tr);
  }

  function dropRow(id, row) {
    queueView.dropOffer(row); // its item in the offer dock goes with it
    row.tr.remove();
    screenWatch?.unobserve(row.tr);
    nearScreen.delete(row);
    state.rows.delete(id);
  }

  function buildRow(id) {
    const open = el("button", { type: "button", className: "row-open" });
    const cells = {
      wait: el("td", { className: "col-wait num" }),
      channel: el("td", { className: "col-channel" }),
      ref: el("td", { className: "col-ref" }, open),
      name: el("td", { className: "col-name" }),
      text: el("span", { className: "preview-text" }),
      status: el("td", { className: "col-status" }),
      agent: el("td", { className: "col-agent" }),
      open,
    };
    cells.preview = el("td", { className: "col-preview" }, cells.text);
    const tr = el("tr", { "data-testid": "queue-row", "data-request-id": id },
      cells.wait, cells.channel, cells.ref, cells.name, cells.preview, cells.status,
      cells.agent);
    tr.addEventListener("click", () => openDetail(id));
    // Played once: a row moved later (taken out and put back) must not light up again.
    tr.addEventListener("animationend", (event) => {
      if (event.target === tr && event.animationName === "fresh") tr.classList.remove("fresh");
    });
    const wait = document.createTextNode(""); // ticks every second: its text alone changes
    cells.wait.append(wait);
    const badge = el("span", { className: "badge" });
    cells.status.append(badge);
    const row = { tr, cells, wait, badge, request: null, shown: null, view: null,
      channel: null, due: null, offer: null };
    rowOfTr.set(tr, row);
    watchRow(row);
    return row;
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function setTitle(node, text) {
    if (node.title !== text) node.title = text;
  }

  /** Fill a row from its summary. Called only when what it shows has changed. */
  function fillRow(row, request, shown, view) {
    const { tr, cells } = row;
    row.request = request;
    row.shown = shown;
    row.view = view;
    tr.dataset.reference = request.reference;
    tr.dataset.status = request.status;
    const selected = request.id === state.selectedId;
    tr.classList.toggle("selected", selected);
    tr.classList.toggle("mine", isMine(request));
    if (selected) tr.setAttribute("aria-current", "true");
    else tr.removeAttribute("aria-current");
    if (state.fresh.delete(request.id)) tr.classList.add("fresh"); // plays as it is inserted
    setText(cells.open, request.reference);
    cells.open.setAttribute("aria-label", t("open_request", { ref: request.reference }));
    const channel = `${request.channel} ${state.lang}`;
    if (row.channel !== channel) {
      row.channel = channel;
      cells.channel.replaceChildren(el("span", {
        className: `channel channel-${request.channel}`, title: channelLabel(request.channel),
      }, channelIcon(request.channel), channelLabel(request.channel, true)));
    }
    const name = passengerLabel(request);
    setText(cells.name, name); // isolated (console.css): a name's own direction stays in it
    userText(cells.name, name !== t("unknown_passenger"));
    setTitle(cells.name, name);
    const callback = callbackOf(request);
    row.due = null;
    if (callback) {
      tr.dataset.callback = "true";
      const line = callbackLine(callback, previewOf(request));
      userText(cells.text, false);
      cells.text.replaceChildren(el("span", { className: "badge callback-badge",
        "data-testid": "queue-callback" }, t("callback")), " ", ...line.nodes);
      row.due = line.due;
      if (row.due) paintDue(row.due.node, row.due.callback, true);
      setTitle(cells.preview, cells.text.textContent);
    } else {
      delete tr.dataset.callback;
      const preview = previewOf(request);
      setText(cells.text, preview);
      userText(cells.text, preview === (request.preview || "")); // not a call's own words
      setTitle(cells.preview, preview);
    }
    const badge = `badge status-${request.status}`;
    if (row.badge.className !== badge) row.badge.className = badge;
    setText(row.badge, statusLabel(request.status));
    const agent = request.assigned_agent ? request.assigned_agent.name : t("nobody");
    setText(cells.agent, agent);
    userText(cells.agent, Boolean(request.assigned_agent));
    setTitle(cells.agent, request.assigned_agent ? agent : "");
    queueView.fill(row, request); // offers
    tickRow(row, request);
  }

  /** The parts that follow the clock; true when the row's place or offer may have changed
   * with it (a callback gone overdue, an offer run out), which needs a render. */
  function tickRow(row, request) {
    tickWait(row, request);
    return tickRest(row, request);
  }

  function tickWait(row, request) {
    const waited = waitedSeconds(request);
    const text = formatDuration(waited);
    if (row.wait.data !== text) row.wait.data = text;
    queueView.paintWait(row.cells.wait, request, waited); // against the lane's target
  }

  function tickRest(row, request) {
    if (row.due) paintDue(row.due.node, row.due.callback, true);
    return queueView.tick(row, request);
  }

  let renderFrame = 0;
  let renderTimer = 0;

  /** Render the queue in the next frame, once for all that arrives before it. */
  function scheduleRender() {
    if (renderFrame) return;
    renderFrame = window.requestAnimationFrame(flushRender);
    // A hidden tab gets no frames: its title's count must still follow, so a timer stands in.
    renderTimer = window.setTimeout(flushRender, RENDER_FALLBACK_MS);
  }

  function flushRender() {
    window.cancelAnimationFrame(renderFrame);
    window.clearTimeout(renderTimer);
    renderFrame = 0;
    if (!state.me || state.loading) return;
    renderQueue();
    const held = heldKey();
    if (held !== state.held) { // the colleagues' list shows how many each holds
      state.held = held;
      presence.render();
    }
  }

  function heldKey() {
    const counts = [];
    for (const request of state.requests.values()) {
      if (request.status === "claimed" && request.assigned_agent) {
        counts.push(request.assigned_agent.id);
      }
    }
    return counts.sort().join(" ");
  }

  /** The table as the requests, the view and the clock say now. Writes only: nothing here
   * asks the browser for layout, so it is laid out once, after. */
  function renderQueue() {
    const tbody = $("queue-body");
    const list = visibleRequests();
    const focused = document.activeElement;
    const focusedIn = focused && focused !== tbody && tbody.contains(focused) ? focused : null;
    const focusedId = focusedIn?.closest("tr")?.dataset.requestId;
    const keep = new Set(list.map((request) => request.id));
    for (const [id, row] of state.rows) {
      if (!keep.has(id)) dropRow(id, row);
    }
    for (const request of list) {
      let row = state.rows.get(request.id);
      if (!row) {
        row = buildRow(request.id);
        state.rows.set(request.id, row);
      }
      const view = rowViewOf(request);
      if (row.request === request && row.view === view) continue;
      const shown = shownOf(request);
      if (row.shown === shown && row.view === view) row.request = request;
      else fillRow(row, request, shown, view);
    }
    placeRows(tbody, list);
    // A row moved in the DOM loses focus: give it back, where the keyboard user left it.
    if (focusedIn && document.activeElement !== focusedIn) {
      const target = focusedIn.isConnected ? focusedIn : state.rows.get(focusedId)?.cells.open;
      target?.focus({ preventScroll: true });
    }
    const empty = $("queue-empty");
    const hidden = list.length > 0 && !state.loadFailed;
    if (empty.hidden !== hidden) empty.hidden = hidden;
    setText(empty, state.loadFailed ? t("queue_load_failed")
      : state.loading && !state.requests.size ? t("queue_loading")
        : state.requests.size ? t("queue_empty_filter") : t("queue_empty"));
    renderCounts();
  }

  /** Put the rows in the list's order, moving as few as possible: the longest run of rows
   * already in order stays; new rows, and rows whose place changed, are moved in. A row that
   * stays keeps its focus and the pointer over it. */
  function placeRows(tbody, list) {
    const rows = list.map((request) => state.rows.get(request.id).tr);
    const before = new Map();
    for (const id of state.order) {
      if (state.rows.has(id)) before.set(id, before.size);
    }
    state.order = list.map((request) => request.id);
    if (!before.size || tbody.childElementCount !== before.size) {
      tbody.replaceChildren(...rows); // the first fill (or a table touched from elsewhere)
      return;
    }
    const stay = longestRun(state.order.map((id) => before.get(id) ?? -1));
    let anchor = null;
    for (let at = rows.length - 1; at >= 0; at -= 1) {
      if (!stay.has(at)) tbody.insertBefore(rows[at], anchor);
      anchor = rows[at];
    }
  }

  /** The positions of a longest increasing run of `places` (-1: new, never in it). */
  function longestRun(places) {
    const ends = []; // ends[k]: where the smallest-ending run of length k + 1 ends
    const previous = new Array(places.length);
    for (let at = 0; at < places.length; at += 1) {
      const place = places[at];
      if (place < 0) continue;
      let low = 0;
      let high = ends.length;
      while (low < high) {
        const mid = (low + high) >> 1;
        if (places[ends[mid]] < place) low = mid + 1;
        else high = mid;
      }
      previous[at] = low ? ends[low - 1] : -1;
      ends[low] = at;
    }
    const run = new Set();
    for (let at = ends.length ? ends[ends.length - 1] : -1; at >= 0; at = previous[at]) {
      run.add(at);
    }
    return run;
  }

  function renderCounts() {
    let unassigned = 0;
    let mine = 0;
    for (const request of state.requests.values()) {
      if (!request.assigned_agent) unassigned += 1;
      else if (isMine(request)) mine += 1;
    }
    setText($("count-all"), String(state.requests.size));
    setText($("count-mine"), String(mine));
    setText($("count-unassigned"), String(unassigned));
    queueView.renderHead(state.requests.values(), state.rows.size); // tabs, callbacks, search
    const title = unassigned ? `(${unassigned}) TaxiConnect` : "TaxiConnect";
    if (document.title !== title) document.title = title;
  }

  function tick() {
    for (const row of nearScreen) {
      if (row.request) tickWait(row, row.request);
    }
    let moved = false;
    for (const row of state.rows.values()) {
      if (row.request && tickRest(row, row.request)) moved = true;
    }
    if (moved) scheduleRender();
    const due = state.detailDue;
    if (due && due.node.isConnected) paintDue(due.node, due.callback, due.open);
  }

  function onQueueKey(event) {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const tr = event.target.closest?.("tr");
    if (!tr) return;
    const next = event.key === "ArrowDown" ? tr.nextElementSibling : tr.previousElementSibling;
    if (next) {
      event.preventDefault();
      next.querySelector(".row-open")?.focus();
    }
  }

  // ---- the detail -----------------------------------------------------------------------------

  function openDetail(id) {
    if (state.selectedId !== id) {
      $("note-text").value = "";
      $("action-error").textContent = "";
      state.detail = null;
      state.deliveries.clear();
      state.audio.clear();
    }
    // One history entry while a request is open: Back closes it (on a phone, the way back).
    if (!state.selectedId) window.history.pushState({ request: id }, "");
    state.selectedId = id;
    state.detailMissing = false;
    renderQueue();
    renderDetail();
    refreshDetail();
    if (!document.activeElement?.checkVisibility()) $("detail-heading").focus(); // narrow.css
  }

  function closeDetail() {
    if (window.history.state?.request) window.history.back();
    const id = state.selectedId;
    state.selectedId = null;
    state.detail = null;
    state.audio.clear();
    state.detailSeq += 1;
    renderQueue();
    renderDetail();
    state.rows.get(id)?.cells.open.focus();
  }

  function scheduleDetailRefresh() {
    window.clearTimeout(state.detailTimer);
    state.detailTimer = window.setTimeout(refreshDetail, DETAIL_REFRESH_MS);
  }

  async function refreshDetail() {
    const id = state.selectedId;
    if (!id) return;
    const seq = ++state.detailSeq;
    try {
      const { data } = await api("GET", `/api/v1/requests/${encodeURIComponent(id)}`);
      if (seq !== state.detailSeq || id !== state.selectedId) return;
      state.detail = data.request;
      mergeDeliveries(state.detail);
      state.detailMissing = false;
    } catch (err) {
      if (seq !== state.detailSeq || id !== state.selectedId) return;
      if (err.status === 404) state.detailMissing = true;
      else $("action-error").textContent = `${t("action_failed")}: ${err.message}`;
    }
    renderDetail();
    loadAgents();
  }

  /** What the detail shows: the full detail, else the queue's summary while it loads. */
  function shownRequest() {
    if (!state.selectedId) return null;
    if (state.detail && state.detail.id === state.selectedId) return state.detail;
    return state.requests.get(state.selectedId) || null;
  }

  function renderDetail() {
    const request = shownRequest();
    const body = $("detail-body");
    const empty = $("detail-empty");
    document.body.classList.toggle("request-open", Boolean(state.selectedId)); // narrow.css
    if (!state.selectedId || (!request && state.detailMissing)) {
      body.hidden = true;
      empty.hidden = false;
      empty.textContent = state.selectedId ? t("detail_not_found") : t("detail_empty");
      return;
    }
    body.hidden = false;
    empty.hidden = true;
    if (!request) {
      $("detail-reference").textContent = "";
      $("detail-status").textContent = t("detail_loading");
      composer.show(null);
      order?.show(null);
      return;
    }
    $("detail-reference").textContent = request.reference;
    const status = $("detail-status");
    status.textContent = statusLabel(request.status);
    status.className = `badge status-${request.status}`;
    status.dataset.status = request.status;
    $("detail-assigned").textContent = request.assigned_agent?.name || t("nobody");
    userText($("detail-assigned"), Boolean(request.assigned_agent?.name));
    $("detail-last-agent").textContent = request.last_agent?.name || t("nobody");
    userText($("detail-last-agent"), Boolean(request.last_agent?.name));
    renderCallback(request);
    renderPassenger(request.contact || {});
    window.TaxiConnect.passenger?.show(request, { t, api, open: openDetail, icon: channelIcon });
    renderFacts(request);
    order?.show(request);
    renderTimings(request.timings || {});
    renderTimeline(request);
    renderTyping();
    composer.show(request);
    renderTransferOptions(request);
    updateActionButtons(request);
  }

  function renderPassenger(contact) {
    $("passenger-name").textContent = contact.name || t("unknown_passenger");
    userText($("passenger-name"), Boolean(contact.name));
    $("passenger-phones").replaceChildren(...(contact.phones || []).map((phone) => el("li", {},
      TEL.test(phone) ? el("a", { href: `tel:${phone}` }, formatPhone(phone)) : phone)));
    $("passenger-emails").replaceChildren(...(contact.emails || []).map((email) => el("li",
      { title: email }, el("a", { href: `mailto:${email}` }, email))));
  }

  function fact(label, value, isData = false) {
    return [el("dt", {}, label), el("dd", { "data-user-text": isData }, value)];
  }

  function renderFacts(request) {
    const details = request.details || {};
    const items = [fact(t("channel"), channelLabel(request.channel))];
    for (const key of DETAIL_KEYS) {
      const value = details[key];
      if (value === undefined || value === null || value === "") continue;
      items.push(fact(t(key), key === "pickup_time" ? formatDateTime(value) : String(value),
        true));
    }
    if (details.language) {
      const language = t.has(`lang_${details.language}`) ? t(`lang_${details.language}`)
        : details.language;
      items.push(fact(t("passenger_language"), language));
    }
    $("detail-facts").replaceChildren(...items.flat());
  }

  function renderTimings(timings) {
    const items = [];
    for (const key of TIMESTAMPS) {
      const iso = timings[key];
      const when = iso ? timeEl(iso, formatClock(iso)) : t("nobody");
      if (iso) when.title = formatDateTime(iso);
      items.push(el("dt", {}, t(key)), el("dd", { "data-testid": `timing-${key}` }, when));
    }
    for (const key of DURATIONS) {
      const seconds = timings[key];
      items.push(el("dt", {}, t(key)), el("dd",
        { "data-testid": `timing-${key}`, className: "num" },
        typeof seconds === "number" ? formatDuration(seconds) : t("nobody")));
    }
    $("detail-timings").replaceChildren(...items);
  }

  function renderTimeline(request) {
    const entries = [];
    const calls = Array.isArray(request.calls) ? request.calls : [];
    const recordings = Array.isArray(request.recordings) ? request.recordings : [];
    const callIds = new Set(calls.map((call) => call.id));
    for (const message of request.messages || []) {
      // A call's contact message ("Incoming call") is shown as the call itself.
      if (message.channel === "phone" && callIds.has(message.details?.call_id)) continue;
      entries.push({ at: message.created_at, order: 0, node: messageItem(request, message) });
    }
    for (const call of calls) {
      entries.push({ at: call.started_at, order: 0, node: callItem(call,
        recordings.filter((recording) => recording.call_id === call.id)) });
    }
    for (const recording of recordings) {
      if (callIds.has(recording.call_id)) continue;
      entries.push({ at: recording.completed_at || recording.created_at, order: 0,
        node: el("li", { className: "entry call" }, el("ul", { className: "recordings" },
          recordingItem(recording))) });
    }
    for (const event of request.history || []) {
      if (event.action === "reply") continue; // shown as the message, with who sent it
      entries.push({ at: event.at, order: 1, node: historyItem(event) });
    }
    entries.sort((a, b) => (Date.parse(a.at) - Date.parse(b.at)) || (a.order - b.order));
    const list = $("timeline");
    if (!entries.length) {
      const loading = !request.messages && !request.history;
      list.replaceChildren(el("li", { className: "muted" },
        loading ? t("detail_loading") : t("timeline_empty")));
      return;
    }
    list.replaceChildren(...entries.map((entry) => entry.node));
  }

  function messageItem(request, message) {
    const inbound = message.direction !== "outbound";
    const who = groups?.sender(request, message) || (inbound
      ? (request.contact?.name || t("from_passenger")) : (message.agent?.name || t("from_agent")));
    // A chat reply's recipient is the widget's visitor id: no one to show.
    const to = inbound || message.channel === "chat" ? null
      : (message.details?.to || message.deliveries?.[0]?.recipient);
    return el("li", { className: `entry message ${inbound ? "inbound" : "outbound"}`,
      "data-testid": "timeline-message", "data-direction": inbound ? "inbound" : "outbound",
      "data-message-id": message.id },
    el("p", { className: "entry-head" },
      el("strong", { "data-user-text": who !== t("from_passenger") && who !== t("from_agent") },
        who), to ? [" → ", el("span", { "data-user-text": true }, to)] : null, " · ",
      channelLabel(message.channel),
      " · ", timeEl(message.created_at, formatClock(message.created_at))),
    message.subject ? el("p", { className: "subject", "data-user-text": true }, message.subject)
      : null,
    el("p", { className: "body", "data-user-text": true }, message.body || ""),
    attachments?.list(request, message),
    inbound ? null : groups?.deliveries(message, deliveryItem)
      ?? deliveryList(message.deliveries || []));
  }

  function deliveryList(deliveries) {
    if (!deliveries.length) return null;
    return el("ul", { className: "deliveries", "aria-label": t("delivery") },
      deliveries.map(deliveryItem));
  }

  /** A badge per delivery; a failure says why, visibly and on hover, and so does a retry. */
  function deliveryItem(delivery) {
    const known = DELIVERY_STATES.has(delivery.state);
    const reason = delivery.reason ? String(delivery.reason) : "";
    const title = t("delivery_title", {
      recipient: delivery.recipient || "", via: delivery.via || "",
      attempts: delivery.attempts ?? 0,
      when: delivery.updated_at ? formatDateTime(delivery.updated_at) : "",
    });
    const failed = delivery.state === "failed";
    const why = reason && (failed || delivery.state === "queued")
      ? el("span", { className: `delivery-reason${failed ? " failed" : ""}`,
        "data-testid": "delivery-reason" },
      t(failed ? "delivery_reason" : "delivery_retrying", { reason }))
      : null;
    return el("li", { className: "delivery" },
      el("span", { className: `badge delivery-${known ? delivery.state : "unknown"}`,
        "data-testid": "delivery-badge", "data-state": delivery.state,
        title: reason ? `${title}\n${reason}` : title },
      known ? t(`delivery_${delivery.state}`) : String(delivery.state ?? "")),
      why);
  }

  /** An ISO time in microseconds: a delivery changes faster than Date's milliseconds. */
  function micros(iso) {
    const found = ISO_FRACTION.exec(String(iso || ""));
    const ms = found ? Date.parse(found[1] + found[3]) : Number.NaN;
    if (Number.isNaN(ms)) return 0;
    return ms * 1000 + Number((found[2] || "").padEnd(6, "0").slice(0, 6));
  }

  /** The newest of what is known of a delivery: an event and a fetch of the detail cross. */
  function newestDelivery(delivery) {
    const known = state.deliveries.get(delivery.id);
    if (known && micros(known.updated_at) >= micros(delivery.updated_at)) return known;
    state.deliveries.set(delivery.id, delivery);
    return delivery;
  }

  function mergeDeliveries(request) {
    for (const message of request.messages || []) {
      if (Array.isArray(message.deliveries)) {
        message.deliveries = message.deliveries.map(newestDelivery);
      }
    }
  }

  /** Patch the open request's message with the event's delivery; false when the message is
   * not shown yet (then the detail is fetched again). */
  function patchDelivery(event) {
    const delivery = event.delivery;
    if (!delivery || typeof delivery !== "object" || typeof delivery.id !== "string"
        || event.request.id !== state.selectedId) return false;
    const newest = newestDelivery(delivery);
    const detail = state.detail && state.detail.id === state.selectedId ? state.detail : null;
    const message = (detail?.messages || []).find((found) => found.id === event.message_id);
    if (!message) return false;
    const list = Array.isArray(message.deliveries) ? message.deliveries : [];
    const at = list.findIndex((found) => found.id === delivery.id);
    if (at >= 0) list[at] = newest;
    else list.push(newest);
    message.deliveries = list;
    renderTimeline(detail);
    if (newest === delivery && delivery.state === "failed") {
      announce(t("announce_delivery_failed", {
        ref: event.request.reference, reason: delivery.reason || "" }));
    }
    return true;
  }

  function onReplySent(id, answer) {
    // Live events update the queue; without them (reconnecting) use the answer instead.
    if (state.connection !== "live" && answer.request) {
      applyEvent({ type: "request.reply", request: answer.request });
      renderQueue();
    }
    if (id === state.selectedId) refreshDetail();
  }

  function historyItem(event) {
    const target = event.target_agent?.name || t("nobody");
    const action = t.has(`act_${event.action}`)
      ? tIsolated(`act_${event.action}`, { target }) : event.action;
    return el("li", { className: `entry handling action-${event.action}`,
      "data-testid": "timeline-handling" },
    el("p", { className: "entry-head" },
      el("strong", { "data-user-text": Boolean(event.agent?.name) },
        event.agent?.name || t("from_agent")), " ", action, " · ",
      timeEl(event.at, formatClock(event.at))),
    event.note ? el("p", { className: "body note" }, event.note) : null);
  }

  // ---- calls and recordings -------------------------------------------------------------------

  function causeLabel(cause) {
    if (!cause) return t("cause_unknown");
    if (CAUSES[cause]) return t(`cause_${CAUSES[cause]}`);
    const q850 = /^q850-(\d+)$/.exec(cause);
    return q850 ? `Q.850 ${q850[1]}` : String(cause);
  }

  /** How the call went, in words: {text, missed}. */
  function callOutcome(call, inbound, recordings) {
    const parts = [];
    if (!inbound && call.agent?.name) parts.push(tIsolated("call_by", { name: call.agent.name }));
    if (call.state === "ringing") return { text: [...parts, t("call_ringing")], missed: false };
    if (call.answered_at || call.state === "answered") {
      parts.push(inbound && call.agent?.name
        ? tIsolated("call_answered_by", { name: call.agent.name })
        : t("call_answered"));
      if (call.state === "answered") parts.push(t("call_in_progress"));
      return { text: parts, missed: false };
    }
    // Unanswered: a caller who "completed" a call nobody took hung up on the greeting.
    const normal = CAUSES[call.cause] === "normalClearing";
    const voicemail = recordings.some((recording) => recording.kind === "voicemail");
    const cause = inbound && voicemail ? t("call_left_voicemail")
      : causeLabel(normal ? "cancel" : call.cause);
    parts.push(t(inbound ? "call_missed" : "call_not_answered", { cause }));
    return { text: parts, missed: inbound };
  }

  function callItem(call, recordings) {
    const inbound = call.direction !== "out";
    const number = inbound ? call.caller : call.called;
    const outcome = callOutcome(call, inbound, recordings);
    const text = [...outcome.text];
    if (typeof call.ring_time_s === "number") {
      text.push(t("call_ring_time", { time: formatDuration(call.ring_time_s) }));
    }
    if (typeof call.talk_time_s === "number") {
      text.push(t("call_talk_time", { time: formatDuration(call.talk_time_s) }));
    }
    const shown = number && number !== "anonymous" ? number : t("caller_anonymous");
    return el("li", { className: `entry call call-${inbound ? "in" : "out"}`
      + `${outcome.missed ? " missed" : ""}`, "data-testid": "timeline-call",
    "data-call-id": call.id, "data-direction": inbound ? "in" : "out",
    "data-state": call.state, "data-missed": String(outcome.missed) },
    el("p", { className: "entry-head" }, channelIcon("phone"),
      el("strong", {}, t(inbound ? "call_in" : "call_out")), " · ",
      el("bdi", { className: "num" }, formatPhone(shown)), " · ",
      timeEl(call.started_at, formatClock(call.started_at))),
    el("p", { className: `body call-outcome${outcome.missed ? " missed" : ""}`,
      "data-testid": "call-outcome" }, text.flatMap((part, n) => (n ? [" · ", part] : [part]))),
    recordings.length ? el("ul", { className: "recordings" }, recordings.map(recordingItem))
      : null);
  }

  function recordingItem(recording) {
    const kind = recording.kind === "voicemail" ? "voicemail" : "recording";
    const label = t(`rec_${kind}`);
    const when = recording.completed_at || recording.created_at;
    const listens = Number(recording.listens) || 0;
    const head = [el("strong", {}, label)];
    if (typeof recording.duration_s === "number") {
      head.push(" · ", t("rec_length", { time: formatDuration(recording.duration_s) }));
    }
    if (when) head.push(" · ", timeEl(when, formatClock(when)));
    return el("li", { className: `recording recording-${kind}`, "data-testid": "recording",
      "data-recording-id": recording.id, "data-kind": kind },
    el("p", { className: "recording-head" }, head),
    audioFor(recording, label, when),
    recording.transcription
      ? el("figure", { className: "transcription" },
        el("figcaption", {}, t("rec_transcription")),
        el("blockquote", { "data-testid": "recording-transcription" }, recording.transcription))
      : el("p", { className: "muted" }, t("rec_no_transcription")),
    el("p", { className: "listens", "data-testid": "recording-listens",
      "data-listens": listens },
    listens === 0 ? t("rec_listens_none") : t("rec_listens", { count: listens })));
  }

  /** The recording's player: fetched only when played (the hub records every fetch as a
   * listen), and the same element on every render, so a refresh never stops it. */
  function audioFor(recording, label, when) {
    let audio = state.audio.get(recording.id);
    if (!audio) {
      audio = el("audio", { controls: true, preload: "none",
        src: `/api/v1/recordings/${encodeURIComponent(recording.id)}/audio`,
        "data-testid": "recording-audio" });
      let played = false;
      audio.addEventListener("play", () => { played = true; });
      const heard = () => {
        if (!played) return;
        played = false;
        scheduleDetailRefresh(); // the listen count
      };
      for (const type of ["loadedmetadata", "playing", "error"]) {
        audio.addEventListener(type, heard);
      }
      state.audio.set(recording.id, audio);
    }
    audio.setAttribute("aria-label", t("rec_player", {
      kind: label, when: when ? formatDateTime(when) : "" }));
    return audio;
  }

  // ---- who is calling ---------------------------------------------------------------------------

  /** A ringing inbound call shows who calls until it is answered, ends or grows old. */
  function noteCall(event) {
    const call = event.call;
    if (!call || typeof call !== "object" || typeof call.id !== "string") return;
    if (CALL_OVER.has(event.type)) {
      dropCaller(call.id);
      return;
    }
    if (event.type !== "call.ringing" || call.direction !== "in" || call.state !== "ringing"
        || state.callers.has(call.id)) return;
    const started = Date.parse(call.started_at || "");
    const age = Number.isNaN(started) ? 0 : Math.max(0, now() - started);
    if (age >= CALLER_NOTICE_MS) return; // replayed after a reconnect: long over
    const notice = { call, request: event.request, caller: event.caller || {} };
    notice.timer = window.setTimeout(() => dropCaller(call.id), CALLER_NOTICE_MS - age);
    notice.node = callerNotice(call.id, notice);
    state.callers.set(call.id, notice);
    $("caller-notices").append(notice.node);
  }

  function dropCaller(id) {
    const notice = state.callers.get(id);
    if (!notice) return;
    state.callers.delete(id);
    window.clearTimeout(notice.timer);
    const hadFocus = notice.node.contains(document.activeElement);
    notice.node.remove();
    if (hadFocus && state.me) $("queue-heading").focus(); // never strand the keyboard user
  }

  function callerNotice(id, { call, request, caller }) {
    const number = call.caller && call.caller !== "anonymous" ? formatPhone(call.caller) : "";
    const who = caller.name || number || t("caller_anonymous");
    const parts = [];
    if (caller.name && number) parts.push(number);
    const previous = Array.isArray(caller.previous_requests)
      ? caller.previous_requests.length : 0;
    parts.push(previous === 0 ? t("caller_previous_none")
      : t("caller_previous", { count: previous }));
    const addresses = (Array.isArray(caller.pickup_addresses) ? caller.pickup_addresses : [])
      .filter((address) => typeof address === "string" && address);
    if (addresses.length) parts.push(t("caller_addresses", { list: addresses.join(", ") }));
    const open = el("button", { type: "button", className: "primary",
      "data-testid": "caller-open",
      "aria-label": t("open_request", { ref: request.reference }) }, t("caller_open"));
    open.addEventListener("click", () => openDetail(request.id));
    const dismiss = el("button", { type: "button", className: "quiet dismiss",
      "data-testid": "caller-dismiss", "aria-label": t("caller_dismiss"),
      title: t("caller_dismiss") }, "×");
    dismiss.addEventListener("click", () => dropCaller(id));
    return el("div", { className: "caller-notice", role: "group",
      "aria-label": t("caller_notice"), "data-testid": "caller-notice", "data-call-id": id,
      "data-request-id": request.id },
    channelIcon("phone"),
    el("p", { className: "caller-text", "data-testid": "caller-text" },
      el("strong", {}, tIsolated("caller_calling", { who })),
      parts.flatMap((part) => [" · ", el("bdi", {}, part)])),
    open, dismiss);
  }

  // ---- chat typing ---------------------------------------------------------------------------

  function passengerTyping(requestId, on) {
    window.clearTimeout(state.typing.get(requestId));
    if (on) {
      state.typing.set(requestId, window.setTimeout(
        () => passengerTyping(requestId, false), PASSENGER_TYPING_MS));
    } else {
      state.typing.delete(requestId);
    }
    if (requestId === state.selectedId) renderTyping();
  }

  function renderTyping() {
    const text = state.selectedId && state.typing.has(state.selectedId)
      ? t("passenger_typing") : "";
    const box = $("passenger-typing");
    if (box.textContent !== text) box.textContent = text;
  }

  /** Only the actions that fit the request's state are shown; the first one is primary. */
  function updateActionButtons(request) {
    const me = state.me || {};
    const external = me.role === "external";
    const admin = me.role === "admin";
    const mine = isMine(request);
    const resolved = request.status === "resolved";
    const claimed = request.status === "claimed";
    const mayHandle = !claimed || mine || admin;
    // [shown, enabled]; a claim on someone else's request stays offered: its 409 says who.
    const rules = {
      claim: [!resolved && !mine, !external],
      resolve: [!resolved, mayHandle],
      release: [claimed && (mine || admin), true],
      reopen: [resolved, !external],
    };
    const focused = document.activeElement;
    const actions = $("detail-actions");
    const hadFocus = actions.contains(focused);
    let primary = null;
    for (const action of ACTIONS) {
      const button = $(`action-${action}`);
      const [shown, enabled] = rules[action];
      button.hidden = !shown;
      button.disabled = !enabled;
      button.classList.remove("primary");
      if (shown && enabled && !primary) primary = button;
    }
    primary?.classList.add("primary");
    const transfer = !external && !resolved && mayHandle;
    $("action-transfer").disabled = !transfer;
    $("transfer-agent").disabled = !transfer;
    if (hadFocus && (focused.hidden || focused.disabled)) {
      (primary || $("detail-heading")).focus(); // never strand the keyboard user
    } else if (focused && focused.disabled) {
      $("detail-heading").focus();
    }
  }

  async function loadAgents() {
    if (state.agents && Date.now() - state.agentsAt < AGENTS_MAX_AGE_MS) return;
    state.agentsAt = Date.now();
    try {
      const { data } = await api("GET", "/api/v1/agents");
      state.agents = data.agents;
    } catch (_) {
      return;
    }
    const request = shownRequest();
    if (request) renderTransferOptions(request);
  }

  function renderTransferOptions(request) {
    const select = $("transfer-agent");
    const chosen = select.value;
    const options = [el("option", { value: "" }, t("transfer_choose"))];
    for (const agent of state.agents || []) {
      if (agent.id === request.assigned_agent?.id) continue;
      const label = state.me && agent.id === state.me.id ? t("you", { name: agent.name })
        : agent.name;
      options.push(el("option", { value: agent.id }, label));
    }
    select.replaceChildren(...options);
    if ([...select.options].some((option) => option.value === chosen)) select.value = chosen;
  }

  async function act(action, body) {
    const id = state.selectedId;
    if (!id || state.busy) return;
    const path = action === "note" ? "notes" : action;
    const errorBox = $("action-error");
    errorBox.textContent = "";
    state.busy = true;
    document.body.classList.add("busy");
    try {
      const { data } = await api("POST", `/api/v1/requests/${encodeURIComponent(id)}/${path}`,
        body);
      $("action-done").textContent = t(`done_${action}`);
      if (action === "note") $("note-text").value = "";
      if (action === "transfer") $("transfer-agent").value = "";
      // Live events update the queue; without them (reconnecting) use the answer instead.
      if (state.connection !== "live" && data && data.request) {
        applyEvent({ type: `request.${action}`, request: data.request });
        renderQueue();
      }
      await refreshDetail();
    } catch (err) {
      if (err.status === 401) return;
      const reason = err.message;
      const lead = err.status === 409 ? t("conflict") : t("action_failed");
      errorBox.textContent = `${lead}: ${reason}`;
      if (err.status === 409) await refreshDetail();
    } finally {
      state.busy = false;
      document.body.classList.remove("busy");
    }
  }

  function onNote(event) {
    event.preventDefault();
    const text = $("note-text").value.trim();
    if (!text) {
      $("action-error").textContent = t("note_empty");
      $("note-text").focus();
      return;
    }
    act("note", { text });
  }

  function onTransfer(event) {
    event.preventDefault();
    const agentId = $("transfer-agent").value;
    if (!agentId) {
      $("action-error").textContent = t("transfer_pick");
      $("transfer-agent").focus();
      return;
    }
    act("transfer", { agent_id: agentId });
  }

  /** How many open requests the queue shows `agentId` holding; null while it loads. */
  function heldBy(agentId) {
    if (state.loading || state.needsLoad) return null;
    let count = 0;
    for (const request of state.requests.values()) {
      if (request.status === "claimed" && request.assigned_agent
          && request.assigned_agent.id === agentId) count += 1;
    }
    return count;
  }

  function renderAll() {
    if (!state.me) return;
    presence.render();
    renderQueue();
    renderDetail();
  }

  // ---- start ------------------------------------------------------------------------------

  async function boot() {
    state.lang = await words.use(initialLanguage());
    presence = window.TaxiConnect.createPresence({ t, api, me: () => state.me, heldBy });
    viewers = window.TaxiConnect.createViewers?.({
      t, api, me: () => state.me, selected: () => state.selectedId,
    });
    const me = () => state.me;
    queueView = window.TaxiConnect.createQueue({
      t, api, now, el, me, announce, lang: () => state.lang,
      changed: () => { if (state.me) renderQueue(); },
      open: openDetail, passengerLabel, tIsolated,
    });
    callbacks = window.TaxiConnect.createCallbacks?.({
      t, api, el, me, announce,
      changed: (request) => {
        if (request && state.connection !== "live") applyEvent({ type: "request.callback_call",
          request });
        renderQueue();
        if (state.selectedId) refreshDetail();
      },
    }) || null;
    order = window.TaxiConnect.createOrder?.({ t, api, el, formatDateTime }) || null;
    attachments = window.TaxiConnect.createAttachments?.({ t, el,
      lang: () => state.lang }) || null;
    groups = window.TaxiConnect.createGroups?.({ t, api, el, me, announce,
      open: (id) => { if (state.me) openDetail(id); } }) || null;
    window.TaxiConnect.createHistory?.({
      t, api, el, me, channelLabel, statusLabel,
      passengerLabel, formatDateTime, open: (id) => { if (state.me) openDetail(id); },
    });
    notifier = window.TaxiConnect.createNotifier({
      t, now, me, passengerLabel, channelLabel,
      open: (id) => { if (state.me) openDetail(id); },
    });
    notices = window.TaxiConnect.createNotices?.({ t, api, el, me, announce, now })
      || null;
    window.TaxiConnect.createShortcuts({
      t, el, act, list: visibleRequests, offerOf: queueView.offerOf,
      active: () => Boolean(state.me) && !$("console-view").hidden,
      selected: () => state.selectedId,
      open: openDetail,
      focusSearch: queueView.focusSearch,
    });
    composer = window.TaxiConnect.createComposer({
      t, api, channelLabel,
      onSent: onReplySent,
      onRefused: (id) => { if (id === state.selectedId) refreshDetail(); },
    });
    applyStaticText();
    for (const button of document.querySelectorAll(".lang-btn")) {
      button.addEventListener("click", () => setLanguage(button.dataset.lang));
    }
    $("login-form").addEventListener("submit", onLogin);
    $("logout").addEventListener("click", onLogout);
    $("queue-body").addEventListener("keydown", onQueueKey);
    $("detail-close").addEventListener("click", closeDetail);
    $("detail-back").addEventListener("click", closeDetail);
    window.addEventListener("popstate", () => { if (state.selectedId) closeDetail(); });
    for (const action of ACTIONS) {
      $(`action-${action}`).addEventListener("click", () => act(action));
    }
    $("transfer-form").addEventListener("submit", onTransfer);
    $("note-form").addEventListener("submit", onNote);
    document.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || !state.selectedId) return;
      if (event.target.closest?.("textarea, select, input")) return;
      closeDetail();
    });
    window.setInterval(tick, 1000);
    window.addEventListener("online", () => {
      // Back on the network: try now rather than at the end of a long backoff.
      if (state.wsWanted && !state.ws) {
        state.backoffMs = RECONNECT_FIRST_MS;
        connect();
      }
    });
    try {
      const { data } = await api("GET", "/api/v1/me");
      startConsole(data.agent);
    } catch (err) {
      showLogin(err.status === 0 ? t("error_network") : "");
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
