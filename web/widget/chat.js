/* TaxiConnect passenger chat widget. Embed on an allowed site with one tag:
 *
 *   <script src="https://hub.example/widget/chat.js" data-lang="fi" async></script>
 *
 * data-lang is fi, sv or en (else the page's own lang). The widget's words are the hub's
 * passenger catalogue, fetched from <hub>/widget/words.json before the widget is drawn: a
 * site with a Content-Security-Policy allows the hub in connect-src (https: for the words,
 * wss: for the socket).
 *
 * A launcher button and a chat panel in a shadow root of their own (the site's styles do not
 * reach in, ours do not leak out). The hub's address comes from this script's own src. The
 * visitor token the hub signs is kept in the site's localStorage, so a reload resumes the
 * conversation; so is the newest line the passenger has had in front of them, so that a
 * reload's history counts as unread only the replies after it. Each message carries a client id and stays "sending" until the hub acks it
 * (after storing it); unacked messages are resent with the same id after a reconnect, and the
 * hub stores them once. Text from anyone reaches the page as textContent only.
 *
 * The hub refuses by code, never by words: a socket it closes carries the code as the close
 * reason, a nack carries {code, params}. The widget says the code's words (error.<code>),
 * or a general sentence for a code it has no words for; the hub's English never shows.
 *
 * With the words comes the company's number for urgent matters (company.urgent_phone): the
 * sentences that ask the passenger to call ("*_urgent": the status line of a chat that cannot
 * connect, the general error) name it as a tel: link; without it the plain sentences ask no
 * one to call.
 */
(() => {
  "use strict";

  const script = document.currentScript
    || Array.from(document.scripts).find((s) => /\/widget\/chat\.js(\?|#|$)/.test(s.src));
  if (!script || window.taxiConnectChat) return;

  const SRC = new URL(script.src, location.href);
  const BASE = SRC.href.replace(/\/widget\/chat\.js([?#].*)?$/, "");
  const SOCKET_URL = BASE.replace(/^http/, "ws") + "/chat/ws";
  const STORE_KEY = `taxiconnect-chat:${SRC.origin}`;
  const BACKOFF_MS = [1000, 30000]; // first and longest pause before reconnecting
  const TYPING_EVERY_MS = 2000; // passenger "typing" at most this often
  const TYPING_OFF_MS = 5000; // ... and "stopped" after this long without a keystroke
  const DISPATCHER_TYPING_MS = 6000; // a dispatcher's "typing" fades without news
  const PING_EVERY_MS = 25000;
  const PONG_WAIT_MS = 10000;
  const FLOOD_ATTEMPT = 5; // after a 4429 the next try waits 16-32 s: the hub counts a minute

  const LANGUAGES = ["fi", "sv", "en"]; // the hub's passenger catalogue
  const WORDS_URL = `${BASE}/widget/words.json`;
  let WORDS = {}; // key -> text, or plural forms by Intl.PluralRules category
  let URGENT = null; // {shown, dial}: the number to call when it is urgent, or none
  const PHONE_MARK = "\u0000"; // where a sentence names URGENT, drawn as its tel: link

  const CSS = `
:host { all: initial; }
* { box-sizing: border-box; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
[hidden] { display: none !important; }
.root { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; font-size: 15px;
  line-height: 1.4; color: #1a1a1a; display: flex; flex-direction: column; align-items: flex-end;
  gap: 10px; }
button, input, textarea { font: inherit; color: inherit; }
button { cursor: pointer; border-radius: 8px; border: 1px solid #1a1a1a; padding: 6px 12px;
  background: #fff; }
button:focus-visible, input:focus-visible, textarea:focus-visible, summary:focus-visible {
  outline: 3px solid #1d4ed8; outline-offset: 2px; }
.launcher { background: #1a1a1a; color: #ffd400; border: none; border-radius: 999px;
  padding: 12px 20px; font-weight: 700; box-shadow: 0 4px 14px rgba(0,0,0,.3); }
.panel { width: min(370px, calc(100vw - 24px)); height: min(560px, calc(100vh - 40px));
  background: #fff; border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.3);
  display: flex; flex-direction: column; overflow: hidden; }
.head { background: #1a1a1a; color: #fff; padding: 10px 12px; display: flex; gap: 8px;
  align-items: center; }
.head h2 { font-size: 16px; margin: 0; flex: 1; color: #ffd400; }
.head button { background: transparent; color: #fff; border-color: #777; padding: 4px 10px; }
.status { font-size: 12px; padding: 4px 12px; background: #f3f3f3; margin: 0; }
.status[data-state="live"] { color: #14532d; }
.status[data-state="unreachable"], .status[data-state="offline"] { color: #7f1d1d; background: #fde8e8; }
.notice { margin: 8px 12px 0; padding: 8px; border-radius: 8px; background: #fff7d6;
  border: 1px solid #e6c200; font-size: 14px; }
.queue { margin: 6px 12px 0; font-size: 13px; color: #1d4ed8; }
.body { flex: 1; overflow-y: auto; padding: 8px 12px; }
details { margin: 4px 0; font-size: 14px; }
summary { cursor: pointer; padding: 4px 0; font-weight: 600; }
label { display: block; font-size: 13px; margin-top: 6px; }
input, textarea { width: 100%; padding: 6px 8px; border: 1px solid #888; border-radius: 6px;
  background: #fff; }
.log { list-style: none; margin: 8px 0; padding: 0; display: flex; flex-direction: column; gap: 6px; }
.line { max-width: 85%; padding: 6px 10px; border-radius: 10px; white-space: pre-wrap;
  overflow-wrap: anywhere; }
.line[data-from="passenger"] { align-self: flex-end; background: #1a1a1a; color: #fff; }
.line[data-from="dispatcher"] { align-self: flex-start; background: #f1f1f1; }
.who { display: block; font-size: 12px; font-weight: 700; opacity: .8; }
.state { display: block; font-size: 11px; opacity: .8; }
.line[data-state="failed"] .state { color: #fca5a5; font-weight: 700; }
.typing { min-height: 1.4em; font-size: 13px; font-style: italic; margin: 0 12px; color: #444; }
.composer { display: flex; gap: 6px; padding: 8px 12px; border-top: 1px solid #ddd; align-items: flex-end; }
.composer textarea { resize: none; height: 3.2em; }
.composer .visually-hidden, .visually-hidden { position: absolute; width: 1px; height: 1px;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.send { background: #1a1a1a; color: #ffd400; border: none; font-weight: 700; }
.error { color: #7f1d1d; font-size: 13px; margin: 4px 12px 0; }
.end-form { padding: 8px 12px; border-top: 1px solid #ddd; }
.end-form .row { display: flex; gap: 6px; margin-top: 8px; }
@media (prefers-reduced-motion: no-preference) { .panel { animation: up .15s ease-out; } }
@keyframes up { from { transform: translateY(12px); opacity: 0; } }
`;

  const lang = pickLanguage(script.dataset.lang || document.documentElement.lang
    || navigator.language || "fi");
  const plurals = new Intl.PluralRules(lang);
  function t(key, vars = {}) {
    let text = WORDS[key] ?? key;
    if (typeof text === "object") text = text[plurals.select(Number(vars.n))] ?? text.other;
    return String(text).replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
  }

  /** The passenger's sentence for a refusal's code, or the general one for an unknown code. */
  function refusal(code, params = {}) {
    const key = `error.${code}`;
    return typeof code === "string" && code && Object.hasOwn(WORDS, key)
      ? t(key, params && typeof params === "object" ? params : {})
      : urgentText("error_general");
  }

  /** The key's sentence naming the urgent number (as PHONE_MARK), or its plain one when
   * there is none. */
  function urgentText(key) {
    return URGENT ? t(`${key}_urgent`, { phone: PHONE_MARK }) : t(key);
  }

  function pickLanguage(text) {
    const code = String(text).toLowerCase().slice(0, 2);
    return LANGUAGES.includes(code) ? code : "en";
  }

  // The words come from the hub (one catalogue for every passenger page), before anything
  // is drawn; a hub that cannot be reached is asked again, as the socket would be.
  function loadWords(attempt = 0) {
    fetch(`${WORDS_URL}?lang=${lang}`, { credentials: "omit", mode: "cors" })
      .then((resp) => (resp.ok ? resp.json() : Promise.reject(new Error(String(resp.status)))))
      .then((body) => {
        WORDS = body.words || {};
        const phone = body.urgent_phone;
        URGENT = phone && typeof phone.shown === "string" && typeof phone.dial === "string"
          ? phone : null;
        start();
      })
      .catch(() => setTimeout(() => loadWords(attempt + 1),
        Math.min(BACKOFF_MS[1], BACKOFF_MS[0] * 2 ** attempt)));
  }
  window.taxiConnectChat = { loading: true }; // one widget even if the tag is there twice
  loadWords();

  function start() {

    // --- storage: the token and unsent messages survive a reload -------------------------
    const memory = {};
    function load() {
      try { return JSON.parse(localStorage.getItem(STORE_KEY) || "{}") || {}; }
      catch { return memory; }
    }
    function save(data) {
      try { localStorage.setItem(STORE_KEY, JSON.stringify(data)); }
      catch { Object.assign(memory, data); }
    }
    const stored = load();

    const state = {
      token: typeof stored.token === "string" ? stored.token : null,
      pending: Array.isArray(stored.pending) ? stored.pending.filter((p) => p && p.id && p.text) : [],
      readUpTo: typeof stored.read === "string" ? stored.read : null, // a message id
      passing: null, // the sentence of a close the widget reconnects from: gone once live
      said: "", // the error line's sentence (its urgent number as PHONE_MARK)
      lines: new Map(), // message id -> element
      clientLines: new Map(), // client id -> element (the passenger's own)
      last: null, // {id, at}: the newest line the widget has
      seenSent: new Set(),
      prechat: {}, prechatSent: false,
      ws: null, live: false, attempt: 0, everOpened: false, timer: null,
      available: true, reason: "ok", maxChars: 2000, open: false, unread: 0,
      typingSentAt: 0, typingOff: null, typingShown: null, pingTimer: null, pongTimer: null,
    };

    // --- the DOM ---------------------------------------------------------------------------
    const host = document.createElement("div");
    host.setAttribute("data-taxiconnect-chat", "");
    const shadow = host.attachShadow({ mode: "open" });
    const id = (name) => `tc-chat-${name}`;

    function el(tag, attrs = {}, ...children) {
      const node = document.createElement(tag);
      for (const [key, value] of Object.entries(attrs)) {
        if (value === false || value === null || value === undefined) continue;
        if (key === "text") node.textContent = value;
        else node.setAttribute(key, value === true ? "" : value);
      }
      node.append(...children);
      return node;
    }

    function field(name, type, extra = {}) {
      const input = el("input", { id: id(name), name, type, "data-testid": `chat-${name}`, ...extra });
      return [el("label", { for: id(name), text: t(name) }), input];
    }

    const launcher = el("button", { type: "button", class: "launcher", "aria-expanded": "false",
      "aria-controls": id("panel"), "data-testid": "chat-launcher", text: t("launcher") });
    const status = el("p", { class: "status", role: "status", "data-testid": "chat-status",
      "data-state": "connecting", text: t("connecting") });
    const notice = el("p", { class: "notice", "data-testid": "chat-notice", hidden: true });
    const queueLine = el("p", { class: "queue", role: "status", "data-testid": "chat-queue",
      hidden: true });
    // A log, not a list: role="log" on an <ol> would leave its items outside any list.
    const log = el("div", { class: "log", role: "log", "aria-live": "polite",
      "aria-label": t("title"), "data-testid": "chat-log" });
    const typing = el("p", { class: "typing", "aria-live": "polite", "data-testid": "chat-typing" });
    const error = el("p", { class: "error", role: "alert", "data-testid": "chat-error" });
    const textarea = el("textarea", { id: id("text"), rows: "2", placeholder: t("placeholder"),
      "data-testid": "chat-text" });
    const sendButton = el("button", { type: "submit", class: "send", "data-testid": "chat-send",
      text: t("send") });
    const composer = el("form", { class: "composer", novalidate: true },
      el("label", { for: id("text"), class: "visually-hidden", text: t("message_label") }),
      textarea, sendButton);
    const [nameLabel, nameInput] = field("name", "text", { autocomplete: "name", maxlength: "200" });
    const [phoneLabel, phoneInput] = field("phone", "tel", { autocomplete: "tel", maxlength: "40" });
    const [emailLabel, emailInput] = field("email", "email", { autocomplete: "email", maxlength: "320" });
    const details = el("details", { "data-testid": "chat-details" },
      el("summary", { text: t("details") }), nameLabel, nameInput, phoneLabel, phoneInput,
      emailLabel, emailInput);
    const [pickupLabel, pickupInput] = field("pickup_address", "text",
      { autocomplete: "street-address", maxlength: "300" });
    const [timeLabel, timeInput] = field("pickup_time", "time");
    const orderButton = el("button", { type: "submit", "data-testid": "chat-order-send",
      text: t("order_send") });
    const orderForm = el("form", { novalidate: true }, pickupLabel, pickupInput, timeLabel,
      timeInput, el("p", {}, orderButton));
    const order = el("details", { "data-testid": "chat-order" },
      el("summary", { text: t("order") }), orderForm);
    const [endEmailLabel, endEmail] = field("end_email", "email", { autocomplete: "email" });
    const endForm = el("form", { class: "end-form", novalidate: true, hidden: true,
      "data-testid": "chat-end-form" },
    el("strong", { text: t("end_title") }), endEmailLabel, endEmail,
    el("div", { class: "row" },
      el("button", { type: "submit", "data-testid": "chat-end-confirm", text: t("end_confirm") }),
      el("button", { type: "button", "data-action": "cancel-end", text: t("cancel") })));
    const endButton = el("button", { type: "button", "data-testid": "chat-end", text: t("end") });
    const minimise = el("button", { type: "button", "aria-label": t("minimise"),
      "data-testid": "chat-minimise", text: "×" });
    const panel = el("section", { id: id("panel"), class: "panel", role: "dialog",
      "aria-labelledby": id("title"), "data-testid": "chat-panel", hidden: true, lang },
    el("div", { class: "head" }, el("h2", { id: id("title"), text: t("title") }), endButton, minimise),
    status, notice, queueLine, el("div", { class: "body" }, details, order, log), typing, error,
    composer, endForm);
    const root = el("div", { class: "root" }, panel, launcher);

    if ("adoptedStyleSheets" in shadow && typeof CSSStyleSheet === "function") {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS); // constructed: not inline style, so a strict page CSP allows it
      shadow.adoptedStyleSheets = [sheet];
    } else {
      shadow.append(el("style", { text: CSS }));
    }
    shadow.append(root);

    // --- rendering -------------------------------------------------------------------------
    /** A sentence's parts, its urgent number ("... soita 09 123 4567.") a tel: link kept on
     * one line. */
    function withUrgentLink(sentence) {
      const [before, ...after] = String(sentence).split(PHONE_MARK);
      if (!after.length || !URGENT) return [before];
      return [before, el("a", { href: `tel:${URGENT.dial}`, "data-testid": "chat-urgent-phone",
        text: URGENT.shown.replace(/ /g, "\u00a0") }), after.join("")];
    }

    function setStatus(kind) {
      status.dataset.state = kind;
      status.replaceChildren(...withUrgentLink(kind === "unreachable" ? urgentText(kind) : t(kind)));
    }

    /** Says `sentence` in the error line; none clears it. */
    function showError(sentence = "") {
      state.said = sentence;
      error.replaceChildren(...(sentence ? withUrgentLink(sentence) : []));
    }

    function showNotice(text) {
      notice.textContent = text || "";
      notice.hidden = !text;
    }

    /** The passenger's place in the queue and the estimated wait, while nobody has taken it. */
    function showQueue(frame) {
      const position = Number(frame.position);
      if (!frame.position || !Number.isFinite(position)) {
        queueLine.hidden = true;
        queueLine.textContent = "";
        return;
      }
      const minutes = Number.isFinite(Number(frame.wait_s)) && frame.wait_s !== null
        ? Math.max(1, Math.ceil(Number(frame.wait_s) / 60)) : null;
      queueLine.textContent = minutes === null ? t("queue_place", { n: position })
        : t("queue_place_wait", { n: position, min: minutes });
      queueLine.hidden = false;
    }

    function showAvailability() {
      const away = !state.available;
      showNotice(away ? t(state.reason === "closed_hours" ? "closed_hours" : "no_dispatcher") : "");
      if (away) details.open = true;
    }

    function lineElement(from, text, agent) {
      const who = from === "passenger" ? t("you") : (agent || t("dispatcher"));
      return el("div", { class: "line", "data-from": from, "data-testid": "chat-line" },
        el("span", { class: "who", "data-testid": "chat-who", text: who }),
        el("span", { class: "text", "data-testid": "chat-text-body", text }),
        el("span", { class: "state", "data-testid": "chat-state" }));
    }

    function setLineState(node, value) {
      node.dataset.state = value;
      node.querySelector(".state").textContent = value === "sent" ? "" : t(value);
    }

    function noteLast(messageId, at) {
      const when = Date.parse(at) || 0;
      if (!state.last || when > state.last.when
          || (when === state.last.when && messageId > state.last.id)) {
        state.last = { id: messageId, when };
      }
    }

    function addLine(line, alreadyRead = false) {
      noteLast(line.id, line.at);
      if (state.open) noteRead();
      if (state.lines.has(line.id)) return;
      let node = line.client_id ? state.clientLines.get(line.client_id) : null;
      if (node) {
        setLineState(node, "sent");
        dropPending(line.client_id);
      } else {
        node = lineElement(line.from, line.text, line.agent);
        setLineState(node, "sent");
        log.append(node);
        if (line.client_id) state.clientLines.set(line.client_id, node);
      }
      node.dataset.messageId = line.id;
      state.lines.set(line.id, node);
      if (line.from === "dispatcher") {
        hideTyping();
        markSeen(line.id);
        if (!state.open && !alreadyRead) setUnread(state.unread + 1);
      }
      scrollDown();
    }

    function noteRead() {
      if (!state.last || state.last.id === state.readUpTo) return;
      state.readUpTo = state.last.id;
      persist();
    }

    function scrollDown() {
      const body = log.parentElement;
      body.scrollTop = body.scrollHeight;
    }

    function setUnread(count) {
      state.unread = count;
      launcher.textContent = count ? `${t("launcher")} (${count})` : t("launcher");
      launcher.setAttribute("aria-label", count ? t("launcher_unread", { n: count }) : t("launcher"));
    }

    function showTyping(name) {
      typing.textContent = t("typing", { name: name || t("dispatcher") });
      clearTimeout(state.typingShown);
      state.typingShown = setTimeout(hideTyping, DISPATCHER_TYPING_MS);
    }

    function hideTyping() {
      clearTimeout(state.typingShown);
      typing.textContent = "";
    }

    function clearConversation() {
      log.replaceChildren();
      state.lines.clear();
      state.clientLines.clear();
      state.last = null;
      for (const item of state.pending) state.clientLines.set(item.id, pendingLine(item));
    }

    // --- the socket ------------------------------------------------------------------------
    function send(frame) {
      if (state.ws && state.live) state.ws.send(JSON.stringify(frame));
    }

    function connect() {
      clearTimeout(state.timer);
      if (state.ws) return;
      if (navigator.onLine === false) { // "online" reconnects; this is in case it never fires
        setStatus("offline");
        state.timer = setTimeout(connect, BACKOFF_MS[1]);
        return;
      }
      let ws;
      try { ws = new WebSocket(SOCKET_URL); } catch { scheduleReconnect(); return; }
      state.ws = ws;
      let opened = false;
      ws.onopen = () => {
        opened = true;
        ws.send(JSON.stringify({ type: "hello", token: state.token,
          last_seen: state.last ? state.last.id : null, lang }));
      };
      ws.onmessage = (event) => {
        let frame;
        try { frame = JSON.parse(event.data); } catch { return; }
        if (frame && typeof frame === "object") receive(frame);
      };
      ws.onclose = (event) => {
        if (state.ws !== ws) return;
        state.ws = null;
        state.live = false;
        stopPing();
        if (!opened && !state.everOpened) setStatus("unreachable");
        else if (navigator.onLine === false) setStatus("offline");
        else setStatus("reconnecting");
        // The hub's close reason is a code (none when the network or a handshake failed).
        // (aiohttp itself closes a frame far over the size limit with 1009 and no reason.)
        const code = event.reason || (event.code === 1009 ? "chat_message_too_long" : "");
        const said = code ? refusal(code) : "";
        if (said) showError(said);
        if (event.code === 1003 || event.code === 1009 || event.code === 4400) {
          failPendingHead(); // the line the hub refused: said, and not sent again
        } else if (said) {
          state.passing = said; // a passing close: its sentence goes once live again
        }
        if (event.code === 4429) state.attempt = Math.max(state.attempt, FLOOD_ATTEMPT);
        scheduleReconnect();
      };
    }

    function scheduleReconnect() {
      clearTimeout(state.timer);
      const [first, longest] = BACKOFF_MS;
      const ceiling = Math.min(longest, first * 2 ** state.attempt);
      state.attempt += 1;
      // Full jitter: a hub restart must not see every passenger come back in the same second.
      state.timer = setTimeout(connect, ceiling / 2 + Math.random() * ceiling / 2);
    }

    function drop() {
      if (state.ws) {
        const ws = state.ws;
        state.ws = null;
        state.live = false;
        stopPing();
        try { ws.close(); } catch { /* already closing */ }
      }
    }

    function startPing() {
      stopPing();
      state.pingTimer = setInterval(() => {
        send({ type: "ping" });
        clearTimeout(state.pongTimer);
        state.pongTimer = setTimeout(() => { drop(); setStatus("reconnecting"); scheduleReconnect(); },
          PONG_WAIT_MS);
      }, PING_EVERY_MS);
    }

    function stopPing() {
      clearInterval(state.pingTimer);
      clearTimeout(state.pongTimer);
    }

    function receive(frame) {
      clearTimeout(state.pongTimer);
      switch (frame.type) {
        case "welcome": return welcome(frame);
        case "message": return addLine(frame);
        case "ack": return acked(frame);
        case "nack": return nacked(frame);
        case "typing": return frame.on ? showTyping(frame.name) : hideTyping();
        case "availability":
          state.available = !!frame.available;
          state.reason = frame.reason;
          return showAvailability();
        case "prechat":
          if (!frame.ok) {
            const names = Object.keys(frame.fields || {}).map((key) => t(key)).join(", ");
            showError(t("invalid_field", { field: names }));
          }
          return undefined;
        case "closed": return ended(frame.transcript);
        case "queue": return showQueue(frame);
        default: return undefined;
      }
    }

    function welcome(frame) {
      state.live = true;
      state.everOpened = true;
      state.attempt = 0;
      state.token = frame.token;
      state.available = !!frame.available;
      state.reason = frame.reason;
      state.maxChars = frame.max_chars || state.maxChars;
      persist();
      setStatus("live");
      if (state.passing !== null && state.said === state.passing) showError();
      state.passing = null;
      showAvailability();
      // After a reload the history is the whole conversation: what was read before it is
      // not news. The lines come in order, so everything up to the last read one was read.
      const lines = frame.messages || [];
      const readAt = lines.findIndex((line) => line.id === state.readUpTo);
      lines.forEach((line, index) => addLine(line, index <= readAt));
      for (const item of state.pending) { // unsent ones come after the history
        const node = state.clientLines.get(item.id);
        if (node) log.append(node);
      }
      startPing();
      state.prechatSent = false;
      for (const item of state.pending) sendItem(item);
      markAllSeen();
    }

    function markAllSeen() {
      for (const [messageId, node] of state.lines) {
        if (node.dataset.from === "dispatcher") markSeen(messageId);
      }
    }

    function persist() {
      save({ token: state.token, read: state.readUpTo,
        pending: state.pending.map(({ id: i, text, extra }) => ({ id: i, text, extra })) });
    }

    function acked(frame) {
      const node = state.clientLines.get(frame.id);
      if (node) {
        setLineState(node, "sent");
        node.dataset.messageId = frame.message_id;
        state.lines.set(frame.message_id, node);
      }
      noteLast(frame.message_id, frame.at);
      const item = state.pending.find((p) => p.id === frame.id);
      dropPending(frame.id);
      if (item && item.offline) showNotice(t("callback_thanks"));
    }

    function nacked(frame) {
      const item = state.pending.find((p) => p.id === frame.id);
      if (!item) return;
      if (frame.retry) {
        setTimeout(() => send({ type: "message", id: item.id, text: item.text }),
          1000 * (frame.retry_after || 1));
      } else {
        failPending(item.id, refusal(frame.code, frame.params));
      }
    }

    function failPendingHead(reason) {
      if (state.pending.length) failPending(state.pending[0].id, reason);
    }

    function failPending(clientId, reason) {
      const node = state.clientLines.get(clientId);
      if (node) setLineState(node, "failed");
      if (reason) showError(reason);
      dropPending(clientId);
    }

    function dropPending(clientId) {
      const before = state.pending.length;
      state.pending = state.pending.filter((p) => p.id !== clientId);
      if (state.pending.length !== before) persist();
    }

    function ended(transcript) {
      clearConversation();
      endForm.hidden = true;
      composer.hidden = false;
      const outcome = transcript && transcript !== "none" ? ` ${t(`transcript_${transcript}`)}` : "";
      showNotice(t("ended") + outcome);
      textarea.focus();
    }

    function markSeen(messageId) {
      if (!state.open || document.visibilityState === "hidden" || state.seenSent.has(messageId)) return;
      if (!state.live) return;
      state.seenSent.add(messageId);
      send({ type: "seen", message_id: messageId });
    }

    // --- the passenger's actions -----------------------------------------------------------
    function newId() {
      if (crypto.randomUUID) return crypto.randomUUID();
      return Array.from(crypto.getRandomValues(new Uint8Array(16)),
        (b) => b.toString(16).padStart(2, "0")).join("");
    }

    function pendingLine(item) {
      const node = lineElement("passenger", item.text, null);
      setLineState(node, "sending");
      log.append(node);
      scrollDown();
      return node;
    }

    function sendPrechat() {
      if (state.prechatSent) return;
      const values = {};
      for (const [key, value] of Object.entries(state.prechat)) if (value) values[key] = value;
      if (Object.keys(values).length) send({ type: "prechat", ...values });
      state.prechatSent = true;
    }

    function readPrechat() {
      const next = { name: nameInput.value.trim(), phone: phoneInput.value.trim(),
        email: emailInput.value.trim() };
      if (JSON.stringify(next) !== JSON.stringify(state.prechat)) {
        state.prechat = next;
        state.prechatSent = false;
      }
    }

    function submit(text, extra) {
      showError();
      if (text.length > state.maxChars) {
        showError(t("too_long", { n: text.length, max: state.maxChars }));
        return false;
      }
      readPrechat();
      const item = { id: newId(), text, extra, offline: !state.available };
      state.pending.push(item);
      persist();
      state.clientLines.set(item.id, pendingLine(item));
      stopTyping();
      sendItem(item);
      if (!state.ws) connect();
      return true;
    }

    /** The passenger's details, the order's pickup (it belongs to this message), the text. */
    function sendItem(item) {
      sendPrechat();
      if (item.extra) send({ type: "prechat", ...item.extra });
      send({ type: "message", id: item.id, text: item.text });
    }

    composer.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = textarea.value.trim();
      if (text && submit(text)) textarea.value = "";
      textarea.focus();
    });
    textarea.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        composer.requestSubmit();
      }
    });
    textarea.addEventListener("input", () => {
      const now = Date.now();
      if (now - state.typingSentAt >= TYPING_EVERY_MS) {
        state.typingSentAt = now;
        send({ type: "typing", on: true });
      }
      clearTimeout(state.typingOff);
      state.typingOff = setTimeout(stopTyping, TYPING_OFF_MS);
    });

    function stopTyping() {
      clearTimeout(state.typingOff);
      if (state.typingSentAt) send({ type: "typing", on: false });
      state.typingSentAt = 0;
    }

    orderForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const address = pickupInput.value.trim();
      if (!address) { pickupInput.focus(); return; }
      const time = timeInput.value;
      const text = t("order_text", { address, time: time || t("now") });
      const extra = time ? { pickup_address: address, pickup_time: time } : { pickup_address: address };
      if (submit(text, extra)) {
        pickupInput.value = "";
        timeInput.value = "";
        order.open = false;
        textarea.focus();
      }
    });

    endButton.addEventListener("click", () => {
      endForm.hidden = false;
      composer.hidden = true;
      endEmail.value = emailInput.value;
      endEmail.focus();
    });
    endForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const email = endEmail.value.trim();
      send(email ? { type: "close", email } : { type: "close" });
    });
    endForm.querySelector("[data-action=cancel-end]").addEventListener("click", () => {
      endForm.hidden = true;
      composer.hidden = false;
      endButton.focus();
    });

    function openPanel() {
      if (!state.ws && !state.live) connect();
      state.open = true;
      panel.hidden = false;
      launcher.setAttribute("aria-expanded", "true");
      setUnread(0);
      noteRead();
      markAllSeen();
      scrollDown();
      textarea.focus();
    }

    function closePanel() {
      state.open = false;
      panel.hidden = true;
      launcher.setAttribute("aria-expanded", "false");
      launcher.focus();
    }

    launcher.addEventListener("click", () => (state.open ? closePanel() : openPanel()));
    minimise.addEventListener("click", closePanel);
    panel.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      event.stopPropagation();
      if (!endForm.hidden) {
        endForm.hidden = true;
        composer.hidden = false;
        endButton.focus();
      } else {
        closePanel();
      }
    });

    window.addEventListener("offline", () => { drop(); setStatus("offline"); });
    window.addEventListener("online", () => { state.attempt = 0; connect(); });
    document.addEventListener("visibilitychange", markAllSeen);

    window.taxiConnectChat = { open: openPanel, close: closePanel };
    for (const item of state.pending) state.clientLines.set(item.id, pendingLine(item));
    (document.body || document.documentElement).append(host);
    // A page view alone opens no socket: only a passenger with a conversation (a reply may
    // be waiting) or one who opens the chat.
    if (state.token || state.pending.length) connect();
  }
})();
