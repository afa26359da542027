/* Admin page, audit trail: who did what, when and from where, newest first; filters by time,
 * agent, action and subject; "more" follows the list's cursor; the same filters download
 * as CSV. Reading the trail is itself audited by the hub.
 * API: GET /api/v1/admin/audit, GET /api/v1/admin/audit.csv (dispatch/audit_api.py).
 */
"use strict";

(() => {
  const PAGE = 100;
  const AUDIT = "/api/v1/admin/audit";
  // A prefix for every kind of entry the hub writes (grep the hub for audit.record and
  // record_access when adding one), each with its words in the catalogue (action_<prefix>).
  const ACTIONS = ["login", "logout", "access.", "read.", "subject.", "agent.", "recording.",
    "contact.", "request.", "group.", "lane.", "routing_rule.", "canned.", "answer_template.",
    "notice.", "retention."];
  function createAudit({ t, api, el, $, lang }) {
    const state = { entries: [], next: null, params: null, agents: [], loading: false,
      started: false };

    function locale() {
      return lang() === "fi" ? "fi-FI" : "en-GB";
    }

    /** The action in words: its own, else its kind's ("agent.add": account changes), the
     * code itself shown beside it either way. */
    function actionLabel(action) {
      const keys = [`action_${action}`, `action_${action}.`,
        `action_${action.split(".")[0]}.`];
      const key = keys.find((found) => t.has(found));
      return key ? t(key) : action;
    }

    /** The filters as the API's query string (times from the browser's zone to UTC). */
    function query() {
      const params = new URLSearchParams();
      for (const [name, id] of [["from", "audit-from"], ["to", "audit-to"]]) {
        const value = $(id).value;
        if (value) params.set(name, new Date(value).toISOString());
      }
      for (const [name, id] of [["agent", "audit-agent"], ["action", "audit-action"],
        ["subject", "audit-subject"]]) {
        const value = $(id).value.trim();
        if (value) params.set(name, value);
      }
      return params;
    }

    function setStatus(text, kind) {
      const status = $("audit-status");
      status.dataset.kind = kind || "";
      status.textContent = text;
    }

    async function load(more) {
      if (state.loading) return;
      state.loading = true;
      // "More" continues the list shown, with the filters it was searched with.
      if (!more || !state.params) state.params = query();
      const params = new URLSearchParams(state.params);
      params.set("limit", String(PAGE));
      if (more && state.next) params.set("cursor", state.next);
      try {
        const page = await api("GET", `${AUDIT}?${params}`);
        state.entries = more ? state.entries.concat(page.entries) : page.entries;
        state.next = page.next_cursor;
        setStatus("");
      } catch (err) {
        setStatus(t("failed", { reason: err.message }), "error");
      } finally {
        state.loading = false;
      }
      render();
    }

    async function loadAgents() {
      try {
        state.agents = (await api("GET", "/api/v1/admin/agents")).agents;
      } catch (_) {
        state.agents = [];
      }
      renderAgents();
    }

    function renderAgents() {
      const select = $("audit-agent");
      const chosen = select.value;
      select.replaceChildren(el("option", { value: "", text: t("audit_any") }),
        ...state.agents.map((a) => el("option", { value: a.id, text: `${a.name} (${a.login})` })));
      select.value = chosen;
    }

    function renderActions() {
      const select = $("audit-action");
      const chosen = select.value;
      select.replaceChildren(el("option", { value: "", text: t("audit_any") }),
        ...ACTIONS.map((prefix) => el("option", { value: prefix, text: actionLabel(prefix) })));
      select.value = chosen;
    }

    function detailText(detail) {
      return Object.entries(detail || {}).map(([key, value]) =>
        `${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`).join(" · ");
    }

    function row(entry) {
      const at = new Intl.DateTimeFormat(locale(), { dateStyle: "short", timeStyle: "medium" })
        .format(new Date(entry.at));
      const who = entry.agent_id
        ? `${entry.agent_name || ""} (${entry.agent_login || entry.agent_id})`
        : t("audit_system");
      const tr = el("tr", { testid: "audit-row" });
      tr.dataset.id = String(entry.id);
      tr.dataset.action = entry.action;
      tr.append(
        el("td", { "data-user-text": "" }, [el("time", { dateTime: entry.at, text: at })]),
        el("td", { text: who, "data-user-text": entry.agent_id ? "" : null }),
        el("td", {}, [el("span", { text: actionLabel(entry.action) }), el("br"),
          el("span", { className: "muted mono", text: entry.action, translate: "no" })]),
        el("td", { className: "mono", text: entry.subject || "–", "data-user-text": "" }),
        el("td", { className: "mono", text: entry.address || "–", "data-user-text": "" }),
        el("td", { className: "muted", text: detailText(entry.detail),
          "data-user-text": "" }));
      return tr;
    }

    function render() {
      if (!state.started) return;
      renderActions();
      renderAgents();
      const rows = state.entries.map(row);
      if (!rows.length) {
        rows.push(el("tr", {}, [el("td", { colSpan: 6, className: "muted",
          text: t("audit_none") })]));
      }
      $("audit-body").replaceChildren(...rows);
      $("audit-count").textContent = t("audit_count", { count: state.entries.length });
      $("audit-more").hidden = !state.next;
      $("audit-csv").href = `${AUDIT}.csv?${query()}`;
    }

    function activate() {
      if (!state.started) {
        state.started = true;
        $("audit-filters").addEventListener("submit", (event) => {
          event.preventDefault();
          load(false);
        });
        $("audit-filters").addEventListener("input", () => {
          $("audit-csv").href = `${AUDIT}.csv?${query()}`;
        });
        $("audit-more").addEventListener("click", () => load(true));
        loadAgents();
      }
      load(false);
    }

    return { activate, render };
  }

  const admin = globalThis.TaxiAdmin || (globalThis.TaxiAdmin = { sections: {} });
  admin.sections.audit = createAudit;
})();
