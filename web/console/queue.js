/* The queue's view: lane tabs, the filters (all, mine, unassigned, callbacks), the search, the
 * queue order, the waiting time's colour against the lane's target, and offers.
 *
 * console.js keeps every open request live (its websocket); this module decides which of them
 * the table shows and in what order. A search goes to the hub (GET /api/v1/requests?q=...,
 * which also reads every message of a request) after a pause in typing; meanwhile, and for
 * requests that arrive live afterwards, the same rules run here on what a summary holds, so
 * a new request appears only when it matches what is on screen.
 *
 * Lanes come from GET /api/v1/lanes ([{key, name: {fi, en}, position, priority, strategy,
 * target_wait_s, open}]); without it (a hub that has none yet) each lane seen on a request
 * gets a tab, with the default target.
 */
"use strict";

(() => {
  const DEFAULT_TARGET_S = 120; // hub/lanes.py Lane.target_wait_s
  const DEFAULT_LANE = "default"; // hub/lanes.py DEFAULT_LANE
  const SEARCH_PAUSE_MS = 300; // typing pauses this long before the hub is asked
  const SEARCH_LIMIT = 2000; // dispatch/requests_api.py MAX_LIMIT
  // The hub's phone.default_region is FI: a number typed with the trunk 0 is stored with
  // +358. The same rule as dispatch/request_search.py number_forms.
  const COUNTRY_CODE = "358";
  const TRUNK_PREFIX = "0";
  const MIN_NUMBER_DIGITS = 4;
  const NUMBER = /^\+?[\d\s().-]+$/;
  const WAITING = new Set(["new", "queued"]);
  const FILTERS = ["all", "mine", "unassigned", "callbacks"];

  /** The forms an E.164 number holding this typed number contains; [] when not a number. */
  function numberForms(text) {
    const typed = text.trim();
    if (!NUMBER.test(typed)) return [];
    const digits = typed.replace(/\D/g, "");
    if (digits.length < MIN_NUMBER_DIGITS) return [];
    if (typed.startsWith("+")) return [`+${digits}`];
    if (digits.startsWith("00")) return [`+${digits.slice(2)}`];
    const forms = [digits];
    if (digits.startsWith(TRUNK_PREFIX)) {
      forms.unshift(`+${COUNTRY_CODE}${digits.slice(TRUNK_PREFIX.length)}`);
    }
    return forms;
  }

  function parseQuery(q) {
    const text = q.trim();
    if (!text) return [];
    const whole = numberForms(text);
    if (whole.length) return [{ text: text.toLowerCase(), numbers: whole }];
    return text.split(/\s+/).map((word) => ({ text: word.toLowerCase(), numbers: numberForms(word) }));
  }

  /** Make the queue view. `t`, `api`, `now`, `el` and `channelIcon` are console.js's;
   * `lang()` the language shown, `me()` the signed-in agent, `changed()` re-renders the queue,
   * `open(id)` opens a request, `announce(text)` speaks to screen readers. */
  function createQueue({ t, api, now, el, lang, me, changed, open, announce,
    passengerLabel, tIsolated }) {
    const $ = (id) => document.getElementById(id);
    const laneTabs = new Map(); // lane key ("all" too) -> {button, name, closed, count}
    const targets = new Map(); // lane key -> its target waiting time in seconds, from the hub
    // Times a summary holds, parsed once: an event brings a new summary for every change, and
    // the queue is sorted, and its offers and deadlines looked at, on every render and tick.
    const times = new WeakMap(); // summary -> {started, due, expires}
    const waitShown = new WeakMap(); // wait cell -> the colour, target and words it shows
    const view = {
      lane: "all",
      filter: "all",
      query: "",
      words: [],
      lanes: null, // from the hub; null: not (yet) known, use the requests' own lanes
      server: null, // {key, ids}: the hub's answer to the search on screen
      searchTimer: null,
      searchSeq: 0,
      searching: false,
      searchFailed: false,
    };

    // ---- lanes ---------------------------------------------------------------------------

    async function loadLanes() {
      try {
        const { data } = await api("GET", "/api/v1/lanes");
        const list = Array.isArray(data) ? data : Array.isArray(data?.lanes) ? data.lanes : null;
        view.lanes = list ? list.filter((lane) => lane && typeof lane.key === "string") : null;
      } catch (_) {
        view.lanes = null; // 404 before lanes exist, or unreachable: the requests' lanes
      }
      targets.clear();
      for (const lane of view.lanes || []) {
        const target = Number(lane.target_wait_s);
        if (target > 0) targets.set(lane.key, target);
      }
      changed();
    }

    function laneName(lane) {
      const name = lane.name && typeof lane.name === "object" ? lane.name[lang()] || lane.name.en
        || lane.name.fi : null;
      if (name) return String(name);
      return lane.key === DEFAULT_LANE ? t("lane_default") : lane.key;
    }

    /** The tabs: the hub's lanes in their order, then any lane a request waits in that the
     * hub did not list (removed or renamed since). */
    function lanesShown(requests) {
      const shown = [...(view.lanes || [])].sort((a, b) => (a.position ?? 0) - (b.position ?? 0));
      const known = new Set(shown.map((lane) => lane.key));
      const extra = new Set();
      for (const request of requests) {
        if (request.lane && !known.has(request.lane)) extra.add(request.lane);
      }
      for (const key of [...extra].sort((a, b) => (a === DEFAULT_LANE ? -1 : b === DEFAULT_LANE
        ? 1 : a.localeCompare(b)))) {
        shown.push({ key, target_wait_s: DEFAULT_TARGET_S, open: true });
      }
      return shown;
    }

    function targetOf(request) {
      return targets.get(request.lane) || DEFAULT_TARGET_S;
    }

    function timesOf(request) {
      let found = times.get(request);
      if (!found) {
        const details = request.details || {};
        const due = details.callback === "true" ? Date.parse(details.callback_due_at || "")
          : null;
        const expires = Date.parse(request.offer?.expires_at || "");
        found = {
          started: Date.parse(request.timings?.case_started_at || "") || 0,
          due: due === null ? null : Number.isNaN(due) ? Number.POSITIVE_INFINITY : due,
          expires: Number.isNaN(expires) ? null : expires,
        };
        times.set(request, found);
      }
      return found;
    }

    // ---- which requests, in what order ---------------------------------------------------

    function isMine(request) {
      const agent = me();
      return Boolean(agent && request.assigned_agent && request.assigned_agent.id === agent.id);
    }

    /** The open offer, while it lasts: {mine, name, leftMs}; null when none or expired. */
    function offerOf(request, at = now()) {
      const offer = request.offer;
      if (!offer || typeof offer !== "object" || !offer.agent || request.assigned_agent) return null;
      const { expires } = timesOf(request);
      const leftMs = expires === null ? null : expires - at;
      if (leftMs !== null && leftMs <= 0) return null;
      const agent = me();
      return { mine: Boolean(agent && offer.agent.id === agent.id), name: offer.agent.name || "",
        leftMs };
    }

    /** A callback's deadline in ms (Infinity when it has none); null for other requests. */
    function callbackDue(request) {
      return timesOf(request).due;
    }

    function overdue(request, at = now()) {
      const { due } = timesOf(request);
      return due !== null && due !== Number.POSITIVE_INFINITY && at > due;
    }

    /** An overdue callback first, then priority and the longest waiting; the callbacks view
     * goes by deadline. An offer does not move its row (issue 15: 4): a row jumping to the
     * top as offers rotate put another row's buttons under a click; the offer dock below
     * the table answers it instead. */
    function compare(a, b) {
      return b.late - a.late || (a.byDue - b.byDue || 0)
        || b.priority - a.priority || a.started - b.started
        || (a.request.id < b.request.id ? -1 : a.request.id > b.request.id ? 1 : 0);
    }

    function inFilter(request, filter) {
      if (filter === "mine") return isMine(request);
      if (filter === "unassigned") return !request.assigned_agent;
      if (filter === "callbacks") return callbackDue(request) !== null;
      return true;
    }

    function inLane(request) {
      return view.lane === "all" || request.lane === view.lane;
    }

    /** The search on the summary alone: what the hub matches, less the messages' bodies. */
    function textMatch(request) {
      const contact = request.contact || {};
      const phones = (contact.phones || []).map(String);
      const hay = [request.reference, contact.name, request.preview, ...phones,
        ...(contact.emails || [])].filter(Boolean).map((part) => String(part).toLowerCase());
      return view.words.every((word) => hay.some((part) => part.includes(word.text))
        || word.numbers.some((form) => phones.some((phone) => phone.includes(form))));
    }

    function searchKey() {
      return JSON.stringify([view.query.trim(), view.lane, view.filter]);
    }

    /** The requests the table shows, in its order. */
    function visible(requests) {
      const list = [];
      const server = view.server && view.server.key === searchKey() ? view.server.ids : null;
      const at = now();
      const byDue = view.filter === "callbacks";
      for (const request of requests) {
        if (!inLane(request) || !inFilter(request, view.filter)) continue;
        if (view.words.length && !(server?.has(request.id) || textMatch(request))) continue;
        const { due, started } = timesOf(request);
        list.push({ request, late: Number(overdue(request, at)), byDue: byDue ? due ?? Infinity : 0,
          priority: request.priority || 0, started });
      }
      return list.sort(compare).map((entry) => entry.request);
    }

    // ---- search ----------------------------------------------------------------------------

    function setQuery(text) {
      view.query = text;
      view.words = parseQuery(text);
      scheduleSearch(SEARCH_PAUSE_MS);
      changed();
    }

    function scheduleSearch(delay) {
      window.clearTimeout(view.searchTimer);
      view.searchSeq += 1; // an answer to an older search is dropped
      if (!view.words.length) {
        view.server = null;
        view.searching = false;
        view.searchFailed = false;
        paintSearch();
        return;
      }
      view.searching = true;
      paintSearch();
      view.searchTimer = window.setTimeout(search, delay);
    }

    async function search() {
      const seq = view.searchSeq;
      const key = searchKey();
      const params = new URLSearchParams({ q: view.query.trim(), limit: String(SEARCH_LIMIT) });
      if (view.lane !== "all") params.set("lane", view.lane);
      if (view.filter !== "all") params.set("filter", view.filter);
      try {
        const { data } = await api("GET", `/api/v1/requests?${params}`);
        if (seq !== view.searchSeq) return;
        view.server = { key, ids: new Set((data.requests || []).map((request) => request.id)) };
        view.searchFailed = false;
      } catch (err) {
        if (seq !== view.searchSeq) return;
        view.server = null;
        view.searchFailed = err.status !== 401;
      }
      view.searching = false;
      changed();
    }

    function paintSearch(shown) {
      const input = $("queue-search");
      setAttr(input, "aria-busy", String(view.searching));
      const box = input.closest(".search");
      if (box) {
        setAttr(box, "data-state", !view.words.length ? "idle" : view.searching ? "searching"
          : view.searchFailed ? "failed" : "done");
      }
      const clear = $("queue-search-clear");
      if (clear.hidden !== !view.query) clear.hidden = !view.query;
      setText($("queue-search-status"), !view.words.length ? "" : view.searching
        ? t("search_busy") : view.searchFailed ? t("search_failed")
          : t("search_found", { count: shown ?? 0 }));
    }

    // ---- the head: tabs and counts -------------------------------------------------------

    function renderHead(requests, shown) {
      const all = [...requests];
      const lanes = lanesShown(all);
      if (view.lane !== "all" && !lanes.some((lane) => lane.key === view.lane)) view.lane = "all";
      const counts = new Map();
      for (const request of all) counts.set(request.lane, (counts.get(request.lane) || 0) + 1);
      const tabs = [{ key: "all", label: t("lane_all"), count: all.length, open: true }]
        .concat(lanes.map((lane) => ({ key: lane.key, label: laneName(lane),
          count: counts.get(lane.key) || 0, open: lane.open !== false })));
      const bar = $("lane-tabs");
      const keep = new Set(tabs.map((tab) => tab.key));
      for (const [key, tab] of laneTabs) {
        if (!keep.has(key)) {
          tab.button.remove();
          laneTabs.delete(key);
        }
      }
      // Kept and changed in place: a tab rebuilt under the pointer would lose the click.
      let cursor = bar.firstElementChild;
      for (const tab of tabs) {
        const made = laneTabs.get(tab.key) || makeTab(tab.key);
        setText(made.name, tab.label);
        setText(made.closed, tab.open ? "" : ` (${t("lane_closed")})`);
        setText(made.count, String(tab.count));
        setAttr(made.button, "aria-pressed", String(view.lane === tab.key));
        setAttr(made.button, "data-open", String(tab.open));
        if (made.button === cursor) cursor = cursor.nextElementSibling;
        else bar.insertBefore(made.button, cursor);
      }
      setText($("count-callbacks"), String(all.filter((r) => callbackDue(r) !== null).length));
      for (const button of filterButtons) {
        setAttr(button, "aria-pressed", String(button.dataset.filter === view.filter));
      }
      paintSearch(shown);
    }

    function makeTab(key) {
      const tab = {
        name: el("span", { className: "lane-name" }),
        closed: el("span", { className: "lane-closed" }),
        count: el("span", { className: "count", "data-testid": "lane-count" }),
      };
      tab.button = el("button", { type: "button", className: "lane-tab", "data-lane": key,
        "data-testid": key === "all" ? "lane-all" : "lane-tab" }, tab.name, tab.closed,
      tab.count);
      tab.button.addEventListener("click", () => chooseLane(key));
      laneTabs.set(key, tab);
      return tab;
    }

    // Written on every render of the queue: only a real change may cost the page a layout.
    function setText(node, text) {
      if (node.textContent !== text) node.textContent = text;
    }

    function setAttr(node, name, value) {
      if (node.getAttribute(name) !== value) node.setAttribute(name, value);
    }

    function chooseLane(key) {
      view.lane = key;
      scheduleSearch(0);
      changed();
    }

    function chooseFilter(filter) {
      if (!FILTERS.includes(filter)) return;
      view.filter = filter;
      scheduleSearch(0);
      changed();
    }

    // ---- a row: waiting colour and offers --------------------------------------------------

    function formatLeft(ms) {
      const total = Math.max(0, Math.ceil(ms / 1000));
      return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, "0")}`;
    }

    /** The waiting time's colour: green under half the lane's target, amber to the target,
     * red beyond; none once somebody handles it. Word and colour together (the title). */
    function paintWait(cell, request, waited) {
      const target = targetOf(request);
      const waiting = WAITING.has(request.status);
      const level = !waiting ? null : waited < target / 2 ? "ok" : waited < target ? "warn"
        : "alert";
      const shown = `${level} ${target} ${lang()}`;
      if (waitShown.get(cell) === shown) return; // every second: most often nothing to do
      waitShown.set(cell, shown);
      for (const name of ["ok", "warn", "alert"]) cell.classList.toggle(`wait-${name}`, level === name);
      cell.dataset.wait = level || "none";
      const minutes = `${Math.floor(target / 60)}:${String(target % 60).padStart(2, "0")}`;
      const title = level ? t(`wait_${level}`, { target: minutes }) : "";
      if (cell.title !== title) cell.title = title;
    }

    /** Fill the offer parts of a row (console.js fillRow calls this last, then ticks it;
     * `row.request` is the summary it shows). The row only says to whom it is offered, on
     * its one line: its height and place never change with an offer. An offer to me gets
     * an item in the offer dock under the table, with the countdown and the Accept and
     * Decline buttons, made once and kept while the offer stands; nothing in the table
     * moves when it comes or goes. */
    function fill(row, request) {
      const offer = offerOf(request);
      const { tr, cells } = row;
      tr.classList.toggle("offer-mine", Boolean(offer?.mine));
      tr.dataset.offer = offer ? (offer.mine ? "mine" : "other") : "none";
      if (offer) {
        const words = offer.mine ? t("offer_to_me") : t("offer_to", { name: offer.name });
        cells.agent.replaceChildren(el("span", { className: "offer-other",
          "data-testid": offer.mine ? "offer-mine" : "offer-other" }, offer.mine ? words
          : tIsolated("offer_to", { name: offer.name })));
        cells.agent.title = words;
      }
      const key = offer?.mine ? `${request.id} ${request.offer.expires_at} ${lang()}` : null;
      if (row.offer?.key === key) {
        if (row.offer) setText(row.offer.who, passengerLabel(request));
        return;
      }
      dropOffer(row);
      if (!key) return;
      const left = el("span", { className: "offer-left num", "data-testid": "offer-countdown" });
      const accept = el("button", { type: "button", className: "primary offer-accept",
        "data-testid": "offer-accept", "aria-label": t("offer_accept_label",
          { ref: request.reference }), title: t("offer_accept_key") }, t("offer_accept"));
      const decline = el("button", { type: "button", className: "offer-decline",
        "data-testid": "offer-decline", "aria-label": t("offer_decline_label",
          { ref: request.reference }), title: t("offer_decline_key") }, t("offer_decline"));
      const who = el("bdi", { className: "offer-who" }, passengerLabel(request));
      const ref = el("button", { type: "button", className: "row-open offer-ref",
        "aria-label": t("offer_item_label", { ref: request.reference }) }, request.reference);
      ref.addEventListener("click", () => open(row.request.id));
      accept.addEventListener("click", (event) => answerOffer(event, row.request, "claim"));
      decline.addEventListener("click", (event) => answerOffer(event, row.request, "decline"));
      const item = el("div", { className: "offer-item", role: "group",
        "aria-label": t("offer_item_label", { ref: request.reference }),
        "data-testid": "offer-item", "data-reference": request.reference,
        "data-request-id": request.id },
      el("span", { className: "offer-text" }, el("strong", {}, t("offer_to_me")), " ", ref,
        " · ", who, " · ", left),
      el("span", { className: "offer-buttons" }, accept, decline));
      row.offer = { key, left, who, item };
      dock.append(item);
      paintDock();
    }

    /** The row's item leaves the dock: its offer was answered, ran out or moved on. */
    function dropOffer(row) {
      if (!row.offer) return;
      const hadFocus = row.offer.item.contains(document.activeElement);
      row.offer.item.remove();
      row.offer = null;
      paintDock();
      if (hadFocus) row.cells.open.focus({ preventScroll: true }); // never strand the keyboard
    }

    function paintDock() {
      const hidden = !dock.childElementCount;
      if (dock.hidden !== hidden) dock.hidden = hidden;
    }

    /** The row's offer countdown and overdue mark, every second; true when the queue needs
     * a render for it: a callback just gone overdue moves up, an offer run out without word
     * from the hub goes back to an ordinary row. */
    function tick(row, request) {
      const { tr } = row;
      const late = overdue(request);
      const moved = tr.classList.contains("overdue") !== late;
      if (moved) tr.classList.toggle("overdue", late);
      if (!row.offer) return moved;
      const offer = offerOf(request);
      if (!offer) return true;
      const text = offer.leftMs === null ? "" : t("offer_left", { time: formatLeft(offer.leftMs) });
      if (row.offer.left.textContent !== text) row.offer.left.textContent = text;
      return moved;
    }

    async function answerOffer(event, request, action) {
      event.stopPropagation(); // not the row's own click, which opens it
      const button = event.currentTarget;
      button.disabled = true;
      try {
        await api("POST", `/api/v1/requests/${encodeURIComponent(request.id)}/${action}`);
        if (action === "claim") open(request.id);
      } catch (err) {
        if (err.status === 401) return;
        button.disabled = false;
        announce(t("offer_failed", { reason: err.message }));
      }
    }

    // ---- wiring ----------------------------------------------------------------------------

    const dock = $("offer-dock");
    const input = $("queue-search");
    input.addEventListener("input", () => setQuery(input.value));
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && input.value) {
        event.preventDefault();
        event.stopPropagation();
        input.value = "";
        setQuery("");
      } else if (event.key === "Enter") {
        event.preventDefault();
        scheduleSearch(0); // now, not after the pause
      }
    });
    $("queue-search-clear").addEventListener("click", () => {
      input.value = "";
      setQuery("");
      input.focus();
    });
    const filterButtons = [...document.querySelectorAll(".filter")];
    for (const button of filterButtons) {
      button.addEventListener("click", () => chooseFilter(button.dataset.filter));
    }

    function reset() {
      window.clearTimeout(view.searchTimer);
      Object.assign(view, { lane: "all", filter: "all", query: "", words: [], server: null,
        searching: false, searchFailed: false });
      view.searchSeq += 1;
      input.value = "";
    }

    return {
      loadLanes, visible, renderHead, fill, tick, paintWait, offerOf, reset, dropOffer,
      isMine, focusSearch: () => { input.focus(); input.select(); },
      filter: () => view.filter,
      refreshSearch: () => scheduleSearch(0),
    };
  }

  window.TaxiConnect = Object.assign(window.TaxiConnect || {}, {
    createQueue, queueNumberForms: numberForms,
  });
})();
