/* Searching every request, resolved ones too: yesterday's passenger calls back, a driver asks
 * what was agreed last week, a manager looks over what one dispatcher handled.
 *
 * The header's "Hae kaikista / Search all" button opens a dialog: words (a number as Finns
 * type it, a name, a reference, a word of any message), a date range, open/resolved, channel,
 * lane and the agent who handled the request last. The hub answers a page at a time, newest
 * case first (GET /api/v1/requests with order=newest, status, from, to, channel, lane, agent
 * and q; "more" follows next_cursor); a result opens the request in the detail pane as a
 * queue row does. The lanes are those the queue's tabs show (GET /api/v1/lanes), fetched
 * each time the dialog opens since an admin may have added one.
 */
"use strict";

(() => {
  const STATUSES = {
    any: "queued,claimed,resolved",
    open: "queued,claimed",
    resolved: "resolved",
  };
  const CHANNELS = ["phone", "sms", "email", "chat", "webform"];
  const DEFAULT_LANE = "default"; // hub/lanes.py DEFAULT_LANE
  const PAGE = 50;
  const WATCH_MS = 1000;
  const SVG_NS = "http://www.w3.org/2000/svg";

  function searchIcon() {
    const svg = document.createElementNS(SVG_NS, "svg");
    for (const [name, value] of [["viewBox", "0 0 24 24"], ["aria-hidden", "true"],
      ["focusable", "false"], ["class", "icon"]]) svg.setAttribute(name, value);
    const path = document.createElementNS(SVG_NS, "path");
    // A magnifier over a clock's hands: a search that reaches back in time.
    path.setAttribute("d", "M10.5 17a6.5 6.5 0 1 0 0-13 6.5 6.5 0 0 0 0 13zM15.2 15.2 21 21"
      + "M10.5 7.5v3.2l2.2 1.5");
    svg.append(path);
    return svg;
  }

  function createHistory({ t, api, el, me, open, channelLabel, statusLabel,
    passengerLabel, formatDateTime }) {
    if (!document.querySelector('link[href="/static/console/history.css"]')) {
      document.head.append(el("link", { rel: "stylesheet", href: "/static/console/history.css" }));
    }
    const state = { query: null, cursor: null, results: [], searching: false, error: null,
      agentsLoaded: false, lanes: [] };
    const lang = window.TaxiConnect.words.lang;

    // Like the group button: a pictogram (named for screen readers and on hover) where the
    // header is full, its name too on a wider screen; it never makes the header wrap.
    const openButton = el("button", { type: "button", className: "quiet icon-button history-open",
      id: "history-open", hidden: true, "aria-haspopup": "dialog", "data-testid": "history-open",
      "data-i18n-label": "history_open", "data-i18n-title": "history_open_title",
      "aria-label": t("history_open"), title: t("history_open_title") }, searchIcon(),
    el("span", { className: "history-open-label", "data-i18n": "history_open" },
      t("history_open")));
    document.querySelector(".topbar-end")?.prepend(openButton);

    const label = (id, key) => el("label", { for: id, "data-i18n": key }, t(key));
    const words = el("input", { type: "search", id: "history-words", maxlength: "200",
      autocomplete: "off", "data-testid": "history-words",
      "data-i18n-placeholder": "history_words_hint", placeholder: t("history_words_hint") });
    const from = el("input", { type: "date", id: "history-from", "data-testid": "history-from" });
    const to = el("input", { type: "date", id: "history-to", "data-testid": "history-to" });
    const status = el("select", { id: "history-status", "data-testid": "history-status" });
    const channel = el("select", { id: "history-channel", "data-testid": "history-channel" });
    const agent = el("select", { id: "history-agent", "data-testid": "history-agent" });
    const agentField = el("div", { className: "field" }, label("history-agent", "history_agent"),
      agent);
    const lane = el("select", { id: "history-lane", "data-testid": "history-lane" });
    const laneField = el("div", { className: "field", hidden: true },
      label("history-lane", "history_lane"), lane);
    const search = el("button", { type: "submit", className: "primary",
      "data-testid": "history-search" }, t("history_search"));
    const close = el("button", { type: "button", className: "quiet" }, t("history_close"));
    const summary = el("p", { className: "history-summary", role: "status",
      "data-testid": "history-summary" });
    const list = el("ul", { className: "history-list", "data-testid": "history-results" });
    const more = el("button", { type: "button", className: "quiet history-more", hidden: true,
      "data-testid": "history-more" }, t("history_more"));
    const form = el("form", { className: "history-form", novalidate: true },
      el("div", { className: "field history-words" }, label("history-words", "history_words"),
        words),
      el("div", { className: "history-row" },
        el("div", { className: "field" }, label("history-from", "history_from"), from),
        el("div", { className: "field" }, label("history-to", "history_to"), to),
        el("div", { className: "field" }, label("history-status", "history_status"), status),
        el("div", { className: "field" }, label("history-channel", "history_channel"),
          channel),
        laneField, agentField),
      el("div", { className: "history-buttons" }, close, search));
    const dialog = el("dialog", { className: "history-dialog", id: "history-dialog",
      "aria-labelledby": "history-title", "data-testid": "history-dialog" },
    el("h2", { id: "history-title", "data-i18n": "history_title" }, t("history_title")),
    form, summary, list, more);
    document.body.append(dialog);

    function fillChoices() {
      const chosen = [status.value, channel.value];
      status.replaceChildren(...Object.keys(STATUSES).map((key) => el("option", { value: key },
        t(`history_status_${key}`))));
      status.value = chosen[0] || "any";
      channel.replaceChildren(el("option", { value: "" }, t("history_channel_any")),
        ...CHANNELS.map((name) => el("option", { value: name }, channelLabel(name))));
      channel.value = chosen[1] || "";
      const chosenLane = lane.value;
      lane.replaceChildren(el("option", { value: "" }, t("history_lane_any")),
        ...state.lanes.map((found) => el("option", { value: found.key }, laneName(found))));
      lane.value = state.lanes.some((found) => found.key === chosenLane) ? chosenLane : "";
      laneField.hidden = state.lanes.length < 2; // one lane: nothing to choose between
      const anyone = agent.querySelector('option[value=""]');
      if (anyone) anyone.textContent = t("history_agent_any");
    }

    /** The lane's name in the console's language, as its queue tab shows it. */
    function laneName(found) {
      const name = found.name?.[lang()] || found.name?.en || found.name?.fi;
      if (name) return String(name);
      return found.key === DEFAULT_LANE ? t("lane_default") : found.key;
    }

    async function loadLanes() {
      try {
        const { data } = await api("GET", "/api/v1/lanes");
        state.lanes = (Array.isArray(data?.lanes) ? data.lanes : [])
          .filter((found) => found && typeof found.key === "string")
          .sort((a, b) => (a.position ?? 0) - (b.position ?? 0));
      } catch (_) {
        state.lanes = []; // the search works without it
      }
    }

    async function loadAgents() {
      const external = me()?.role === "external";
      agentField.hidden = external;
      if (external || state.agentsLoaded) return;
      try {
        const { data } = await api("GET", "/api/v1/agents");
        agent.replaceChildren(el("option", { value: "" }, t("history_agent_any")),
          ...(data.agents || []).map((who) => el("option", { value: who.id }, who.name)));
        state.agentsLoaded = true;
      } catch (_) {
        agentField.hidden = true; // the search works without it
      }
    }

    /** The day's start in the dispatcher's own time zone, as the hub's ISO 8601 instant. */
    function dayStart(value, days = 0) {
      const [year, month, day] = value.split("-").map(Number);
      return new Date(year, month - 1, day + days).toISOString();
    }

    function queryOf() {
      const params = new URLSearchParams({ status: STATUSES[status.value] || STATUSES.any,
        order: "newest", limit: String(PAGE) });
      if (words.value.trim()) params.set("q", words.value.trim());
      if (from.value) params.set("from", dayStart(from.value));
      if (to.value) params.set("to", dayStart(to.value, 1)); // the whole last day
      if (channel.value) params.set("channel", channel.value);
      if (lane.value && !laneField.hidden) params.set("lane", lane.value);
      if (agent.value && !agentField.hidden) params.set("agent", agent.value);
      return params;
    }

    async function run(query, cursor) {
      state.searching = true;
      state.error = null;
      render();
      const params = new URLSearchParams(query);
      if (cursor) params.set("cursor", cursor);
      try {
        const { data } = await api("GET", `/api/v1/requests?${params}`);
        state.results = cursor ? [...state.results, ...(data.requests || [])]
          : (data.requests || []);
        state.cursor = data.next_cursor || null;
      } catch (err) {
        state.error = { key: "history_failed", values: { reason: err.message } };
        if (!cursor) state.results = [];
      } finally {
        state.searching = false;
        render();
      }
    }

    function onSubmit(event) {
      event.preventDefault();
      if (from.value && to.value && from.value > to.value) {
        state.error = { key: "history_bad_range" };
        render();
        return;
      }
      state.query = queryOf().toString();
      state.cursor = null;
      run(state.query, null);
    }

    function row(request) {
      const handled = request.last_agent?.name;
      const button = el("button", { type: "button", className: "history-item",
        "data-testid": "history-item", "data-request-id": request.id },
      el("span", { className: "history-line" },
        el("bdi", { className: "history-name" }, passengerLabel(request)),
        el("span", { className: "history-ref" }, request.reference || "")),
      el("span", { className: "history-line muted" },
        el("span", {}, formatDateTime(request.timings?.case_started_at)),
        el("span", {}, channelLabel(request.channel)),
        el("span", { className: `history-status status-${request.status}` },
          statusLabel(request.status)),
        handled ? el("bdi", {}, t("history_handled_by", { name: handled })) : null),
      request.preview ? el("bdi", { className: "history-preview" }, request.preview) : null);
      button.addEventListener("click", () => {
        dialog.close();
        open(request.id);
      });
      return el("li", {}, button);
    }

    function countText() {
      const key = state.cursor ? "history_found_more" : "history_found";
      return t(key, { count: state.results.length });
    }

    function render() {
      fillChoices();
      search.disabled = state.searching;
      search.textContent = t(state.searching ? "history_searching" : "history_search");
      close.textContent = t("history_close");
      more.textContent = t("history_more");
      if (state.error) summary.textContent = t(state.error.key, state.error.values);
      else if (state.query === null || state.searching) summary.textContent = "";
      else summary.textContent = state.results.length ? countText() : t("history_none");
      summary.classList.toggle("error", Boolean(state.error));
      list.replaceChildren(...state.results.map(row));
      more.hidden = !state.cursor || state.searching;
    }

    async function show() {
      render();
      if (!dialog.open) dialog.showModal();
      words.focus();
      await Promise.all([loadAgents(), loadLanes()]);
      render();
    }

    openButton.addEventListener("click", show);
    close.addEventListener("click", () => dialog.close());
    form.addEventListener("submit", onSubmit);
    more.addEventListener("click", () => { if (state.cursor) run(state.query, state.cursor); });
    window.setInterval(() => {
      const signedIn = Boolean(me());
      openButton.hidden = !signedIn;
      if (!signedIn && dialog.open) dialog.close();
      if (!signedIn) { state.agentsLoaded = false; state.results = []; state.query = null; }
    }, WATCH_MS);

    return { show, render };
  }

  window.TaxiConnect = Object.assign(window.TaxiConnect || {}, { createHistory });
})();
