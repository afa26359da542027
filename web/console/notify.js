/* Telling the dispatcher about a new request, or a request offered to them: a short beep made
 * with WebAudio (no sound file) and/or a desktop notification, as each dispatcher chooses in
 * the header's menu. The choice is kept in this browser, per agent.
 *
 * Only what is new to this console is told: the requests of the first load, and whatever a
 * reconnect replays of requests already seen, stay quiet; a replay after a long absence does
 * not ring for requests that have waited long since (the queue shows them).
 */
"use strict";

(() => {
  const STORE_KEY = "taxiconnect.console.notify."; // + agent id
  const DEFAULTS = { sound: true, desktop: false };
  // A request that started longer ago than this is not news, even if this console never
  // saw it (a reconnect after a long absence replays them).
  const NEWS_MAX_AGE_MS = 2 * 60 * 1000;
  const BEEP = { hz: 880, ms: 160, gain: 0.2 }; // short and clear over a dispatch room
  const OFFER_BEEPS = 2; // an offer, which times out, rings twice
  const BEEP_GAP_MS = 220;
  const TAG = "taxiconnect-console"; // one desktop notification at a time, replaced

  /** Make the notifier; `t`, `now` and `passengerLabel` are console.js's, `me()` the agent,
   * `open(id)` opens a request (from a desktop notification's click). */
  function createNotifier({ t, now, me, open, passengerLabel, channelLabel }) {
    const $ = (id) => document.getElementById(id);
    const seen = new Set(); // request ids this console has known
    const offered = new Set(); // "id expires_at" of offers told
    let choice = { ...DEFAULTS };
    let audio = null;

    // ---- the choice ------------------------------------------------------------------------

    function storeKey() {
      const agent = me();
      return agent ? STORE_KEY + agent.id : null;
    }

    function load() {
      choice = { ...DEFAULTS };
      try {
        const stored = JSON.parse(localStorage.getItem(storeKey()) || "null");
        if (stored && typeof stored === "object") {
          for (const name of Object.keys(DEFAULTS)) {
            if (typeof stored[name] === "boolean") choice[name] = stored[name];
          }
        }
      } catch (_) { /* blocked or garbled storage: the defaults */ }
      if (choice.desktop && desktopState() !== "granted") choice.desktop = false;
      paint();
    }

    function save() {
      try { localStorage.setItem(storeKey(), JSON.stringify(choice)); } catch (_) { /* kept for now */ }
    }

    function desktopState() {
      return "Notification" in window ? Notification.permission : "unsupported";
    }

    function paint() {
      $("notify-sound").checked = choice.sound;
      $("notify-desktop").checked = choice.desktop;
      const state = desktopState();
      $("notify-help").textContent = state === "denied" ? t("notify_denied")
        : state === "unsupported" ? t("notify_unsupported") : "";
      $("notify-desktop").disabled = state === "denied" || state === "unsupported";
      $("notify-toggle").dataset.on = String(choice.sound || choice.desktop);
    }

    async function setDesktop(on) {
      if (on && desktopState() === "default") {
        try { await Notification.requestPermission(); } catch (_) { /* answered below */ }
      }
      choice.desktop = on && desktopState() === "granted";
      save();
      paint();
    }

    // ---- sound -----------------------------------------------------------------------------

    /** The AudioContext, made (or woken) inside a click or key press: browsers let a page
     * start sound only after the person has acted on it. */
    function wakeAudio() {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return null;
      try {
        audio = audio || new Context();
        if (audio.state === "suspended") audio.resume().catch(() => {});
      } catch (_) {
        audio = null;
      }
      return audio;
    }

    function beep(times = 1) {
      const context = wakeAudio();
      if (!context) return;
      for (let n = 0; n < times; n += 1) {
        const at = context.currentTime + (n * BEEP_GAP_MS) / 1000;
        const tone = context.createOscillator();
        const volume = context.createGain();
        tone.type = "sine";
        tone.frequency.value = BEEP.hz;
        // A quick fade in and out: no click at either end.
        volume.gain.setValueAtTime(0, at);
        volume.gain.linearRampToValueAtTime(BEEP.gain, at + 0.01);
        volume.gain.linearRampToValueAtTime(0, at + BEEP.ms / 1000);
        tone.connect(volume).connect(context.destination);
        tone.start(at);
        tone.stop(at + BEEP.ms / 1000 + 0.02);
      }
    }

    // ---- telling ---------------------------------------------------------------------------

    function tell({ title, body, requestId, beeps }) {
      if (choice.sound) beep(beeps);
      if (!choice.desktop || desktopState() !== "granted") return;
      try {
        const note = new Notification(title, { body, tag: TAG, renotify: true, lang: document
          .documentElement.lang });
        note.onclick = () => {
          window.focus();
          if (requestId) open(requestId);
          note.close();
        };
      } catch (_) { /* a browser that allows notifications only from a service worker */ }
    }

    function isNews(request) {
      const started = Date.parse(request.timings?.queued_at || request.timings?.case_started_at
        || "");
      return Number.isNaN(started) || now() - started < NEWS_MAX_AGE_MS;
    }

    /** The requests of a load: known from now on, told of never. */
    function known(requests) {
      for (const request of requests) seen.add(request.id);
    }

    /** Requests that arrived in one frame of events: tell of those new to this console. */
    function arrived(requests) {
      const news = [];
      for (const request of requests) {
        if (seen.has(request.id)) continue;
        seen.add(request.id);
        if (isNews(request)) news.push(request);
      }
      if (!news.length) return;
      const [first] = news;
      tell({
        title: news.length === 1 ? t("notify_new_one", { ref: first.reference })
          : t("notify_new", { n: news.length }),
        body: news.slice(0, 3).map((request) => `${request.reference} · ${channelLabel(
          request.channel)} · ${passengerLabel(request)}`).join("\n"),
        requestId: news.length === 1 ? first.id : null,
        beeps: 1,
      });
    }

    /** An offer of a request to this dispatcher, told once per offer. */
    function offer(request) {
      const agent = me();
      const made = request.offer;
      if (!agent || !made || made.agent?.id !== agent.id || request.assigned_agent) return;
      const expires = Date.parse(made.expires_at || "");
      if (!Number.isNaN(expires) && expires <= now()) return;
      const key = `${request.id} ${made.expires_at}`;
      seen.add(request.id);
      if (offered.has(key)) return;
      offered.add(key);
      tell({ title: t("notify_offer", { ref: request.reference }),
        body: `${channelLabel(request.channel)} · ${passengerLabel(request)}`,
        requestId: request.id, beeps: OFFER_BEEPS });
    }

    // ---- the menu --------------------------------------------------------------------------

    function toggle(open_) {
      const menu = $("notify-menu");
      const show = open_ ?? menu.hidden;
      menu.hidden = !show;
      $("notify-toggle").setAttribute("aria-expanded", String(show));
      if (show) $("notify-sound").focus();
    }

    $("notify-toggle").addEventListener("click", () => toggle());
    $("notify-sound").addEventListener("change", (event) => {
      choice.sound = event.target.checked;
      if (choice.sound) wakeAudio();
      save();
      paint();
    });
    $("notify-desktop").addEventListener("change", (event) => setDesktop(event.target.checked));
    $("notify-test").addEventListener("click", () => beep(1));
    $("notify-anchor").addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !$("notify-menu").hidden) {
        event.stopPropagation(); // the menu closes, not the request open behind it
        toggle(false);
        $("notify-toggle").focus();
      }
    });
    document.addEventListener("click", (event) => {
      if (!$("notify-menu").hidden && !event.target.closest?.(".notify-anchor")) toggle(false);
    });
    // Any act on the page may start sound (the browser's rule); the first one does.
    for (const type of ["pointerdown", "keydown"]) {
      document.addEventListener(type, () => { if (choice.sound) wakeAudio(); },
        { capture: true, passive: true });
    }

    function start() {
      $("notify-anchor").hidden = false;
      load();
    }

    function stop() {
      toggle(false);
      $("notify-anchor").hidden = true;
      seen.clear();
      offered.clear();
    }

    return { start, stop, known, arrived, offer, paint };
  }

  window.TaxiConnect = Object.assign(window.TaxiConnect || {}, { createNotifier });
})();
