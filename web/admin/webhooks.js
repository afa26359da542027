/* Admin page, outbound webhooks: the delivery log of what the hub sent to the company's own
 * systems (its taxi dispatch system), newest first: event, request, endpoint, attempts, the
 * receiver's last answer, when a failing one is tried next, when it was delivered or given up.
 * Filters by state (delivered, failing, given up) and event type; "more" follows the log's
 * next_before. Nothing is sent again from here: the hub retries by itself, and the API has
 * no resend. The section's markup is made here, into admin.js's empty section.
 * API: GET /api/v1/admin/webhooks/deliveries (dispatch/webhooks_api.py).
 */
"use strict";

(() => {
  const PAGE = 25;
  const LOG = "/api/v1/admin/webhooks/deliveries";
  const EVENTS = ["request.created", "request.claimed", "request.resolved", "order.ready"];
  // The filter's choices, as the log's states: a failing delivery is still pending.
  const STATES = { delivered: "delivered", failing: "pending", given_up: "failed" };
  const COLUMNS = ["wh_col_created", "wh_col_event", "wh_col_request", "wh_col_endpoint",
    "wh_col_attempts", "wh_col_last", "wh_col_next", "wh_col_done"];

  function createWebhooks({ t, api, el, lang }) {
    const section = document.querySelector('.admin-section[data-section="webhooks"]');
    const state = { rows: [], next: null, params: null, loading: false, started: false };
    function labelled(tag, key, props = {}) {
      const node = el(tag, props);
      node.dataset.i18n = key;
      node.textContent = t(key);
      return node;
    }

    const stateSelect = el("select", { id: "webhooks-state", testid: "webhooks-state" });
    const eventSelect = el("select", { id: "webhooks-event", testid: "webhooks-event" });
    const status = el("p", { className: "admin-status", role: "status",
      testid: "webhooks-status" });
    const count = el("p", { className: "muted", testid: "webhooks-count" });
    const body = el("tbody", { testid: "webhooks-body" });
    const more = labelled("button", "webhooks_more", { type: "button",
      testid: "webhooks-more" });
    more.hidden = true;
    const filters = el("form", { className: "audit-filters", noValidate: true,
      testid: "webhooks-filters" }, [
      el("div", { className: "field" }, [labelled("label", "webhooks_state",
        { htmlFor: "webhooks-state" }), stateSelect]),
      el("div", { className: "field" }, [labelled("label", "webhooks_event",
        { htmlFor: "webhooks-event" }), eventSelect]),
      el("div", { className: "audit-buttons" }, [labelled("button", "webhooks_search",
        { type: "submit", className: "primary", testid: "webhooks-search" })]),
    ]);
    const headRow = el("tr", {}, COLUMNS.map((key) => labelled("th", key, { scope: "col" })));
    section.replaceChildren(el("section", { className: "card admin-card" }, [
      labelled("h1", "webhooks_title", { id: "webhooks-heading" }),
      labelled("p", "webhooks_intro", { className: "muted" }),
      filters, status, count,
      el("div", { className: "admin-table-wrap" }, [
        el("table", { className: "admin-table audit-table webhooks-table",
          testid: "webhooks-table" }, [el("thead", {}, [headRow]), body])]),
      more,
    ]));
    section.firstChild.setAttribute("aria-labelledby", "webhooks-heading");

    function locale() {
      return lang() === "fi" ? "fi-FI" : "en-GB";
    }

    function when(iso) {
      if (!iso) return null;
      const text = new Intl.DateTimeFormat(locale(), { dateStyle: "short", timeStyle: "medium" })
        .format(new Date(iso));
      return el("time", { dateTime: iso, text });
    }

    function eventLabel(type) {
      const key = `wh_event_${type}`;
      return t.has(key) ? t(key) : type;
    }

    /** delivered, failing (tried, will be again), sending (not yet tried) or given_up. */
    function shownState(row) {
      if (row.state === "delivered") return "delivered";
      if (row.state === "failed") return "given_up";
      return row.attempts > 0 ? "failing" : "sending";
    }

    function query() {
      const params = new URLSearchParams();
      if (STATES[stateSelect.value]) params.set("state", STATES[stateSelect.value]);
      if (EVENTS.includes(eventSelect.value)) params.set("event", eventSelect.value);
      return params;
    }

    function setStatus(text, kind) {
      status.dataset.kind = kind || "";
      status.textContent = text;
    }

    async function load(further) {
      if (state.loading) return;
      state.loading = true;
      // "More" continues the list shown, with the filters it was searched with.
      if (!further || !state.params) state.params = query();
      const params = new URLSearchParams(state.params);
      params.set("limit", String(PAGE));
      if (further && state.next !== null) params.set("before", String(state.next));
      try {
        const page = await api("GET", `${LOG}?${params}`);
        state.rows = further ? state.rows.concat(page.deliveries) : page.deliveries;
        state.next = page.next_before;
        setStatus("");
      } catch (err) {
        setStatus(t("webhooks_failed", { reason: err.message }), "error");
      } finally {
        state.loading = false;
      }
      render();
    }

    function fillSelect(select, choices) {
      const chosen = select.value;
      select.replaceChildren(el("option", { value: "", text: t("webhooks_any") }),
        ...choices.map(([value, text]) => el("option", { value, text })));
      select.value = chosen;
    }

    function lastAnswer(row) {
      const shown = shownState(row);
      const parts = [el("span", { className: `webhook-state state-${shown}`,
        text: t(`wh_state_${shown}`) })];
      const answer = row.last_error || (row.last_status ? `http ${row.last_status}` : null);
      if (row.attempts > 0) {
        parts.push(el("br"), el("span", { className: "muted mono",
          text: answer || t("wh_no_answer") }));
      }
      return parts;
    }

    function done(row) {
      if (row.state === "delivered") return [when(row.finished_at)];
      if (row.state === "failed" && row.finished_at) {
        return [el("span", { className: "muted",
          text: t("wh_given_up_at", { at: when(row.finished_at).textContent }) })];
      }
      return ["–"];
    }

    function line(row) {
      const tr = el("tr", { testid: "webhooks-row" });
      tr.dataset.seq = String(row.seq);
      tr.dataset.state = shownState(row);
      tr.dataset.event = row.event_type;
      const next = row.state === "pending" ? when(row.next_attempt_at) : null;
      tr.append(
        el("td", {}, [when(row.created_at)]),
        el("td", {}, [el("span", { text: eventLabel(row.event_type) }), el("br"),
          el("span", { className: "muted mono", text: row.event_type })]),
        el("td", { className: "mono", text: row.reference || row.request_id }),
        el("td", { className: "mono", text: row.endpoint }),
        el("td", { className: "num", text: String(row.attempts), testid: "webhooks-attempts" }),
        el("td", { testid: "webhooks-last" }, lastAnswer(row)),
        el("td", { testid: "webhooks-next" }, [next || "–"]),
        el("td", { testid: "webhooks-done" }, done(row)));
      return tr;
    }

    function render() {
      if (!state.started) return;
      fillSelect(stateSelect, Object.keys(STATES).map((key) => [key, t(`wh_filter_${key}`)]));
      fillSelect(eventSelect, EVENTS.map((type) => [type, eventLabel(type)]));
      const rows = state.rows.map(line);
      if (!rows.length) {
        rows.push(el("tr", {}, [el("td", { colSpan: COLUMNS.length, className: "muted",
          text: t("webhooks_none") })]));
      }
      body.replaceChildren(...rows);
      count.textContent = t("webhooks_count", { count: state.rows.length });
      more.hidden = state.next === null || state.next === undefined;
    }

    function activate() {
      if (!state.started) {
        state.started = true;
        filters.addEventListener("submit", (event) => {
          event.preventDefault();
          load(false);
        });
        more.addEventListener("click", () => load(true));
        render();
      }
      load(false);
    }

    return { activate, render };
  }

  const admin = globalThis.TaxiAdmin || (globalThis.TaxiAdmin = { sections: {} });
  admin.sections.webhooks = createWebhooks;
})();
