/* Admin page, routing rules: which lane a new contact waits in, by the channel it came on, the
 * number or address it contacted, words in its text, or the web form used. Rules are tried in
 * their order; the first that matches picks the lane. Each rule is a row edited in place; the
 * last row adds one. API: GET/POST /api/v1/admin/routing-rules,
 * PUT/DELETE /api/v1/admin/routing-rules/{id}. Shown under the lanes tab (lanes.js).
 */
"use strict";

(() => {
  const CHANNELS = ["phone", "sms", "email", "chat", "webform"];
  const BASE = "/api/v1/admin/routing-rules";

  function createRules({ t, api, el, $, lang }) {
    const state = { rules: [], lanes: [], confirming: null };

    function say(text, kind = "ok") {
      $("rules-status").dataset.kind = kind;
      $("rules-status").textContent = text;
    }

    async function activate() {
      try {
        const [rules, lanes] = await Promise.all([api("GET", BASE),
          api("GET", "/api/v1/admin/lanes")]);
        state.rules = rules.rules ?? rules.routing_rules ?? [];
        state.lanes = lanes.lanes || [];
      } catch (err) {
        if (err.status !== 401) say(t("failed", { reason: err.message }), "error");
      }
      render();
    }

    function render() {
      $("rules-body").replaceChildren(...state.rules.map((rule) => row(rule)), row(null));
    }

    function select(options, value, label) {
      const node = el("select", {}, options.map(([v, text]) => el("option", { value: v, text })));
      node.value = value;
      node.setAttribute("aria-label", label);
      return node;
    }

    function laneName(lane) {
      return (lang() === "fi" ? lane.name_fi : lane.name_en) || lane.key;
    }

    /** A rule's row, its fields edited in place; `rule` null is the row that adds one. */
    function row(rule) {
      const tr = el("tr", { testid: rule ? "rule-row" : "rule-new" });
      if (rule) tr.dataset.id = rule.id;
      tr.dataset.active = String(rule ? rule.active : true);
      const next = Math.max(0, ...state.rules.map((r) => r.position + 1));
      const what = rule ? `#${rule.position}` : t("rule_new");
      const inputs = {
        position: el("input", { type: "number", min: 0, step: 1, testid: "rule-position",
          value: String(rule ? rule.position : next) }),
        lane: select(state.lanes.map((lane) => [lane.key, laneName(lane)]),
          rule ? rule.lane : state.lanes[0]?.key ?? "", `${t("col_lane")}: ${what}`),
        channel: select([["", t("any_channel")],
          ...CHANNELS.map((c) => [c, t(`channel_${c}`)])], rule?.channel ?? "",
        `${t("col_channel")}: ${what}`),
        contacted: el("input", { value: rule?.contacted ?? "", testid: "rule-contacted",
          autocomplete: "off", placeholder: "+358 10 123 4567" }),
        keywords: el("input", { value: (rule?.keywords || []).join(", "),
          testid: "rule-keywords", autocomplete: "off" }),
        form: el("input", { value: rule?.form ?? "", testid: "rule-form", autocomplete: "off" }),
        active: el("input", { type: "checkbox", checked: rule ? rule.active : true,
          testid: "rule-active" }),
      };
      inputs.lane.dataset.testid = "rule-lane";
      inputs.channel.dataset.testid = "rule-channel";
      for (const field of ["position", "contacted", "keywords", "form", "active"]) {
        inputs[field].setAttribute("aria-label", `${t(`col_${field}`)}: ${what}`);
      }
      const error = el("p", { className: "cell-error", testid: "rule-error" });
      const cells = ["position", "lane", "channel", "contacted", "keywords", "form", "active"]
        .map((field) => el("td", { className: field === "active" ? "check-cell" : "" },
          [inputs[field]]));
      cells[cells.length - 1].append(error);
      const save = el("button", { type: "button", className: rule ? "" : "primary",
        text: t(rule ? "rule_save" : "rule_add"), testid: rule ? "rule-save" : "rule-add",
        disabled: state.lanes.length === 0 });
      save.addEventListener("click", () => store(rule, inputs, error));
      const actions = el("td", { className: "actions-cell" }, [save]);
      if (rule) actions.append(...deleteControls(rule));
      else if (!state.lanes.length) actions.append(el("span", { className: "muted",
        text: t("rule_no_lanes") }));
      tr.append(...cells, actions);
      return tr;
    }

    function deleteControls(rule) {
      if (state.confirming !== rule.id) {
        const del = el("button", { type: "button", text: t("rule_delete"),
          testid: "rule-delete" });
        del.addEventListener("click", () => {
          state.confirming = rule.id;
          render();
        });
        return [del];
      }
      const yes = el("button", { type: "button", className: "danger", text: t("rule_delete"),
        testid: "rule-confirm-delete" });
      yes.addEventListener("click", () => remove(rule));
      const no = el("button", { type: "button", className: "quiet", text: t("cancel") });
      no.addEventListener("click", () => {
        state.confirming = null;
        render();
      });
      return [el("span", { className: "confirm", text: t("rule_confirm") }), yes, no];
    }

    async function store(rule, inputs, error) {
      error.textContent = "";
      const body = {
        position: Number(inputs.position.value || 0),
        lane: inputs.lane.value,
        channel: inputs.channel.value || null,
        contacted: inputs.contacted.value.trim() || null,
        keywords: inputs.keywords.value.split(",").map((k) => k.trim()).filter(Boolean),
        form: inputs.form.value.trim() || null,
        active: inputs.active.checked,
      };
      try {
        const saved = (rule
          ? await api("PUT", `${BASE}/${encodeURIComponent(rule.id)}`, body)
          : await api("POST", BASE, body)).rule;
        state.rules = [...state.rules.filter((r) => r.id !== saved.id), saved]
          .sort((a, b) => a.position - b.position || String(a.id).localeCompare(b.id));
        render();
        say(rule ? t("rule_done_save") : t("rule_done_add", { lane: saved.lane }));
      } catch (err) {
        if (err.status === 401) return;
        error.textContent = err.message;
        say(t("failed", { reason: err.message }), "error");
      }
    }

    async function remove(rule) {
      try {
        await api("DELETE", `${BASE}/${encodeURIComponent(rule.id)}`);
        state.rules = state.rules.filter((r) => r.id !== rule.id);
        say(t("rule_done_delete"));
      } catch (err) {
        if (err.status !== 401) say(t("failed", { reason: err.message }), "error");
      }
      state.confirming = null;
      render();
    }

    // lanes.js announces every change of the lanes: the rules' lane choices follow, and the
    // rules of a deleted lane went with it.
    document.addEventListener("taxiadmin:lanes", (event) => {
      state.lanes = event.detail;
      const keys = new Set(state.lanes.map((lane) => lane.key));
      state.rules = state.rules.filter((r) => keys.has(r.lane));
      render();
    });

    return { activate, render };
  }

  const admin = globalThis.TaxiAdmin || (globalThis.TaxiAdmin = { sections: {} });
  admin.sections.rules = (kit) => ({ ...createRules(kit), tab: "lanes" });
})();
