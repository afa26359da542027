/* Admin page, audit trail: who did what, when and from where, newest first; filters by time,
 * agent, action and subject; "more" follows the list's cursor; the same filters download
 * as CSV. Reading the trail is itself audited by the hub.
 * API: GET /api/v1/admin/audit, GET /api/v1/admin/audit.csv (dispatch/audit_api.py).
 */
"use strict";

(() => {
  const PAGE = 100;
  const AUDIT = "/api/v1/admin/audit";
  const ACTIONS = ["login", "access.", "read.", "subject.", "agent.", "recording.", "contact.",
    "group.", "lane.", "canned.", "notice.", "retention."];
  const WORDS = {
    fi: {
      tab_audit: "Tapahtumaloki",
      audit_title: "Tapahtumaloki",
      audit_intro: "Kuka teki mitä, milloin ja mistä osoitteesta. Lokin lukeminenkin kirjataan.",
      audit_from: "Alkaen",
      audit_to: "Ennen",
      audit_agent: "Käyttäjä",
      audit_action: "Toiminto",
      audit_subject: "Kohde (tunniste)",
      audit_any: "Kaikki",
      audit_search: "Hae",
      audit_csv: "Lataa CSV",
      audit_more: "Näytä lisää",
      audit_none: "Ei tapahtumia näillä ehdoilla.",
      audit_count: "{n} tapahtumaa näkyvissä",
      audit_system: "järjestelmä",
      col_at: "Aika",
      col_agent: "Käyttäjä",
      col_action: "Toiminto",
      col_subject: "Kohde",
      col_address: "Osoite",
      col_detail: "Tiedot",
      "action_login": "Kirjautuminen",
      "action_login.": "Kirjautumiset",
      "action_login.failed": "Epäonnistunut kirjautuminen",
      "action_logout": "Uloskirjautuminen",
      "action_access.": "Estetyt pääsyt",
      "action_access.refused": "Pääsy estetty",
      "action_read.": "Henkilötietojen luvut",
      "action_read.contact": "Matkustajakortti luettu",
      "action_read.contact_search": "Matkustajahaku",
      "action_read.contact_timeline": "Matkustajan aikajana luettu",
      "action_read.request": "Pyyntö luettu",
      "action_read.request_search": "Pyyntöhaku",
      "action_read.audit": "Tapahtumaloki luettu",
      "action_read.attachment": "Liite avattu",
      "action_request.order": "Tilaus lähetetty",
      "action_subject.": "Matkustajan tietojen vienti ja poisto",
      "action_subject.export": "Matkustajan tiedot viety",
      "action_subject.erase": "Matkustajan tiedot poistettu",
      "action_agent.": "Käyttäjätilien muutokset",
      "action_recording.": "Tallenteiden kuuntelut",
      "action_contact.": "Matkustajien muutokset",
      "action_group.": "Ryhmät",
      "action_lane.": "Jonot",
      "action_canned.": "Vakiovastaukset",
      "action_notice.": "Tiedotteet",
      "action_retention.": "Säilytysajan poistot",
    },
    en: {
      tab_audit: "Audit",
      audit_title: "Audit trail",
      audit_intro: "Who did what, when and from which address. Reading the trail is recorded too.",
      audit_from: "From",
      audit_to: "Before",
      audit_agent: "User",
      audit_action: "Action",
      audit_subject: "Subject (id)",
      audit_any: "Any",
      audit_search: "Search",
      audit_csv: "Download CSV",
      audit_more: "Show more",
      audit_none: "No entries with these filters.",
      audit_count: "{n} entries shown",
      audit_system: "system",
      col_at: "Time",
      col_agent: "User",
      col_action: "Action",
      col_subject: "Subject",
      col_address: "Address",
      col_detail: "Details",
      "action_login": "Login",
      "action_login.": "Logins",
      "action_login.failed": "Failed login",
      "action_logout": "Logout",
      "action_access.": "Refused access",
      "action_access.refused": "Access refused",
      "action_read.": "Reads of personal data",
      "action_read.contact": "Passenger card read",
      "action_read.contact_search": "Passenger search",
      "action_read.contact_timeline": "Passenger timeline read",
      "action_read.request": "Request read",
      "action_read.request_search": "Request search",
      "action_read.audit": "Audit trail read",
      "action_read.attachment": "Attachment opened",
      "action_request.order": "Order sent",
      "action_subject.": "Passenger data export and erasure",
      "action_subject.export": "Passenger data exported",
      "action_subject.erase": "Passenger data erased",
      "action_agent.": "Account changes",
      "action_recording.": "Recording listens",
      "action_contact.": "Passenger changes",
      "action_group.": "Groups",
      "action_lane.": "Lanes",
      "action_canned.": "Canned replies",
      "action_notice.": "Service notices",
      "action_retention.": "Retention purges",
    },
  };

  function createAudit({ t, api, el, $, lang }) {
    const state = { entries: [], next: null, params: null, agents: [], loading: false,
      started: false };

    function locale() {
      return lang() === "fi" ? "fi-FI" : "en-GB";
    }

    function actionLabel(action) {
      const key = `action_${action}`;
      return key in WORDS.en ? t(key) : action;
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
        el("td", {}, [el("time", { dateTime: entry.at, text: at })]),
        el("td", { text: who }),
        el("td", {}, [el("span", { text: actionLabel(entry.action) }), el("br"),
          el("span", { className: "muted mono", text: entry.action })]),
        el("td", { className: "mono", text: entry.subject || "–" }),
        el("td", { className: "mono", text: entry.address || "–" }),
        el("td", { className: "muted", text: detailText(entry.detail) }));
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
      $("audit-count").textContent = t("audit_count", { n: state.entries.length });
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

    return { words: WORDS, activate, render };
  }

  const admin = globalThis.TaxiAdmin || (globalThis.TaxiAdmin = { sections: {} });
  admin.sections.audit = createAudit;
})();
