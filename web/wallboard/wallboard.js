/* TaxiConnect wallboard (GET /api/v1/wallboard): a tile per lane with the requests waiting
 * now, the longest wait (red past the lane's target), today's contacts, answered and service
 * level; in the header the dispatchers available. Asks again every few seconds and ticks the
 * longest wait every second in between. Admins and dispatchers; every word from the catalogue
 * below, every value from the server as textContent.
 */
"use strict";

(() => {
  const words = window.TaxiConnect.words; // web/words.js: the page catalogue, loaded at start
  const t = words.scope("wallboard");
  const LANG_KEY = "taxiconnect.console.lang"; // shared with the console
  const POLL_MS = 5000;

  const state = { lang: "fi", board: null, fetchedAt: 0, timer: null, asking: false };
  const $ = (id) => document.getElementById(id);

  function initialLanguage() {
    try {
      const stored = localStorage.getItem(LANG_KEY);
      if (words.LANGUAGES.includes(stored)) return stored;
    } catch (_) { /* storage blocked */ }
    return (navigator.language || "").toLowerCase().startsWith("fi") ? "fi" : "en";
  }

  function applyStaticText() {
    document.documentElement.lang = state.lang;
    for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const el of document.querySelectorAll("[data-i18n-label]")) {
      el.setAttribute("aria-label", t(el.dataset.i18nLabel));
    }
    for (const button of document.querySelectorAll(".lang-btn")) {
      button.setAttribute("aria-pressed", String(button.dataset.lang === state.lang));
    }
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return t("none");
    const whole = Math.max(0, Math.floor(seconds));
    const minutes = Math.floor(whole / 60);
    return `${minutes}:${String(whole % 60).padStart(2, "0")}`;
  }

  function clock(iso) {
    return new Date(iso).toLocaleTimeString(state.lang === "fi" ? "fi-FI" : "en-GB");
  }

  function figure(label, value, testid, extraClass) {
    const term = document.createElement("dt");
    term.textContent = label;
    const shown = document.createElement("dd");
    shown.textContent = value;
    shown.dataset.testid = testid;
    if (extraClass) shown.className = extraClass;
    return [term, shown];
  }

  function render() {
    const board = state.board;
    if (!board) return;
    const sinceFetch = (Date.now() - state.fetchedAt) / 1000;
    $("wall-people").textContent = t("people", board.dispatchers);
    $("wall-lanes").replaceChildren(...board.lanes.map((lane) => {
      const wait = lane.longest_wait_s === null ? null : lane.longest_wait_s + sinceFetch;
      const tile = document.createElement("section");
      tile.className = "wall-lane";
      tile.dataset.testid = "wall-lane";
      tile.dataset.lane = lane.key;
      tile.dataset.late = String(wait !== null && wait > lane.target_wait_s);
      const title = document.createElement("h2");
      title.textContent = lane.name[state.lang] || lane.key;
      const list = document.createElement("dl");
      list.className = "wall-figures";
      list.append(
        ...figure(t("queued"), String(lane.queued), "wall-queued"),
        ...figure(t("longest_wait"), duration(wait), "wall-wait", "wall-wait"),
        ...figure(t("service_level"), lane.service_level_pct === null ? t("none")
          : `${lane.service_level_pct} %`, "wall-level"),
        ...figure(t("answered_today"), t("of_contacts", { answered: lane.answered_today,
                                                          contacts: lane.contacts_today }),
                  "wall-answered"));
      tile.append(title, list);
      return tile;
    }));
  }

  function show(view, reason) {
    $("wall-view").hidden = view !== "wall";
    $("denied-view").hidden = view !== "denied";
    if (reason) $("denied-text").textContent = t(reason);
  }

  async function poll() {
    if (state.asking) return;
    state.asking = true;
    try {
      const response = await fetch("/api/v1/wallboard",
                                   { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.status === 401 || response.status === 403) {
        window.clearInterval(state.timer);
        show("denied", response.status === 401 ? "not_signed_in" : "not_for_you");
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      state.board = await response.json();
      state.fetchedAt = Date.now();
      $("wall-updated").textContent = t("updated", { time: clock(state.board.at) });
      $("wall-updated").dataset.kind = "";
      show("wall");
      render();
    } catch (_) {
      if (state.board) {
        $("wall-updated").textContent = t("stale", { time: clock(state.board.at) });
        $("wall-updated").dataset.kind = "error";
      }
    } finally {
      state.asking = false;
    }
  }

  async function start() {
    state.lang = await words.use(initialLanguage());
    applyStaticText();
    for (const button of document.querySelectorAll(".lang-btn")) {
      button.addEventListener("click", async () => {
        if (!words.LANGUAGES.includes(button.dataset.lang)) return;
        state.lang = await words.use(button.dataset.lang);
        try { localStorage.setItem(LANG_KEY, state.lang); } catch (_) { /* not remembered */ }
        applyStaticText();
        render();
        if (state.board) $("wall-updated").textContent = t("updated", { time: clock(state.board.at) });
      });
    }
    poll();
    state.timer = window.setInterval(() => {
      if (Date.now() - state.fetchedAt >= POLL_MS) poll();
      else render(); // the longest wait ticks between asks
    }, 1000);
  }

  start();
})();
