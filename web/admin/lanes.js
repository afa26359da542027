/* Admin page, lanes: the queues requests wait in, with their priority, strategy (pick from the
 * queue, or offer in turn), capacity and opening hours. A list, and one form to add a lane or
 * edit one; a lane is deleted after a confirmation (the hub refuses while requests wait in
 * it). API: GET/POST /api/v1/admin/lanes, PUT/DELETE /api/v1/admin/lanes/{key}.
 *
 * Each change is announced to the routing rules (rules.js) as a "taxiadmin:lanes" event.
 */
"use strict";

(() => {
  const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
  const BASE = "/api/v1/admin/lanes";
  const NUMBERS = { position: 0, priority: 0, offer_timeout_s: 30, last_agent_window_s: 0,
    capacity: 0, target_wait_s: 120 }; // hub/lanes.py defaults
  const INPUT_OF = { position: "lane-position", priority: "lane-priority",
    offer_timeout_s: "lane-offer-timeout", last_agent_window_s: "lane-last-agent",
    capacity: "lane-capacity", target_wait_s: "lane-target-wait" };
  const SPAN = /^(\d{1,2})[:.](\d{2})\s*[-–—]\s*(\d{1,2})[:.](\d{2})$/u;
  const DATE = /^\d{4}-\d{2}-\d{2}$/u;
  const DEFAULT_TIMEZONE = "Europe/Helsinki";

  function clock(hours, minutes) {
    return `${hours.padStart(2, "0")}:${minutes}`;
  }

  /** "07:00-22:00, 23:00-24:00" -> [["07:00", "22:00"], ["23:00", "24:00"]], or null. */
  function parseSpans(text) {
    const spans = [];
    for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
      const found = SPAN.exec(part);
      if (!found) return null;
      spans.push([clock(found[1], found[2]), clock(found[3], found[4])]);
    }
    return spans;
  }

  function createLanes({ t, api, el, $ }) {
    const state = { lanes: [], editing: null, creating: false, confirming: null };

    function say(text, kind = "ok") {
      $("lanes-status").dataset.kind = kind;
      $("lanes-status").textContent = text;
    }

    function publish() {
      document.dispatchEvent(new CustomEvent("taxiadmin:lanes", { detail: state.lanes }));
    }

    async function activate() {
      try {
        state.lanes = (await api("GET", BASE)).lanes || [];
        publish();
      } catch (err) {
        if (err.status !== 401) say(t("failed", { reason: err.message }), "error");
      }
      render();
    }

    function render() {
      renderWeek();
      renderList();
      renderForm();
    }

    /** "Ma–Pe 08:00–16:00 · La–Su kiinni": days with the same hours run together. */
    function hoursText(hours) {
      const week = hours?.week || {};
      const parts = [];
      if (Object.keys(week).length === 0) parts.push(t("hours_always_short"));
      else {
        const spans = (day) => (week[day] || []).map(([a, b]) => `${a}–${b}`).join(", ")
          || t("hours_shut");
        for (let i = 0; i < DAYS.length;) {
          let j = i;
          while (j + 1 < DAYS.length && spans(DAYS[j + 1]) === spans(DAYS[i])) j += 1;
          const days = i === j ? t(`day_${DAYS[i]}`)
            : `${t(`day_${DAYS[i]}`)}–${t(`day_${DAYS[j]}`)}`;
          parts.push(`${days} ${spans(DAYS[i])}`);
          i = j + 1;
        }
      }
      const closed = (hours?.closed_dates || []).length;
      if (closed) parts.push(t("hours_closed_short", { count: closed }));
      return parts.join(" · ");
    }

    function renderList() {
      $("lanes-body").replaceChildren(...state.lanes.map(row));
    }

    function row(lane) {
      const tr = el("tr", { testid: "lane-row" });
      tr.dataset.key = lane.key;
      tr.dataset.active = String(lane.active);
      const key = el("td", { className: "login" }, [el("span", { text: lane.key,
        translate: "no" })]); // the lane's key, as routing rules and the API name it
      if (lane.is_default || lane.key === "default") {
        key.append(" ", el("span", { className: "muted", text: `(${t("lane_default")})` }));
      }
      const names = el("td", { "data-user-text": "" }, [el("span", { text: lane.name_fi }),
        el("br"), el("span", { className: "muted", text: lane.name_en })]);
      const strategy = t(`strategy_${lane.strategy}`) + (lane.strategy === "offer"
        ? ` (${t("offer_after", { n: lane.offer_timeout_s })})` : "");
      const badge = el("span", { className: "state", testid: "lane-state",
        text: !lane.active ? t("lane_inactive") : lane.open === false ? t("lane_closed")
          : t("lane_open") });
      badge.dataset.active = String(lane.active && lane.open !== false);
      const edit = el("button", { type: "button", text: t("lane_edit"), testid: "lane-edit" });
      edit.addEventListener("click", () => startEdit(lane));
      const actions = el("td", { className: "actions-cell" }, [edit]);
      if (!(lane.is_default || lane.key === "default")) actions.append(...deleteControls(lane));
      tr.append(key, names, el("td", { className: "number", text: String(lane.priority) }),
        el("td", { text: strategy }), el("td", { className: "hours-cell",
          text: hoursText(lane.opening_hours) }), el("td", {}, [badge]), actions);
      return tr;
    }

    function deleteControls(lane) {
      if (state.confirming !== lane.key) {
        const del = el("button", { type: "button", text: t("lane_delete"),
          testid: "lane-delete" });
        del.addEventListener("click", () => {
          state.confirming = lane.key;
          renderList();
        });
        return [del];
      }
      const yes = el("button", { type: "button", className: "danger", text: t("lane_delete"),
        testid: "lane-confirm-delete" });
      yes.addEventListener("click", () => remove(lane));
      const no = el("button", { type: "button", className: "quiet", text: t("cancel") });
      no.addEventListener("click", () => {
        state.confirming = null;
        renderList();
      });
      return [el("span", { className: "confirm", text: t("lane_confirm") }), yes, no];
    }

    async function remove(lane) {
      try {
        await api("DELETE", `${BASE}/${encodeURIComponent(lane.key)}`);
        state.lanes = state.lanes.filter((l) => l.key !== lane.key);
        if (state.editing === lane.key) closeForm();
        say(t("lane_done_delete", { key: lane.key }));
        publish();
      } catch (err) {
        if (err.status !== 401) say(t("failed", { reason: err.message }), "error");
      }
      state.confirming = null;
      renderList();
    }

    // ---- the form ----------------------------------------------------------------------------

    function renderWeek() {
      const week = $("lane-week");
      const typed = Object.fromEntries([...week.querySelectorAll("input")]
        .map((input) => [input.dataset.day, input.value]));
      week.replaceChildren(...DAYS.flatMap((day) => {
        const input = el("input", { id: `lane-day-${day}`, autocomplete: "off",
          placeholder: "07:00-22:00", value: typed[day] ?? "", testid: `lane-day-${day}` });
        input.dataset.day = day;
        input.disabled = $("lane-always-open").checked;
        return [el("label", { htmlFor: `lane-day-${day}`, text: t(`day_${day}`) }), input];
      }));
    }

    function renderForm() {
      const card = $("lane-form-card");
      card.hidden = !state.editing && !state.creating;
      $("lane-form-heading").textContent = state.editing
        ? t("lane_edit_title", { key: state.editing }) : t("lane_add_title");
      $("lane-submit").textContent = t(state.editing ? "lane_save" : "lane_add");
      $("lane-key").readOnly = Boolean(state.editing);
    }

    function fill(lane) {
      const form = $("lane-form");
      form.reset();
      clearErrors();
      $("lane-key").value = lane?.key ?? "";
      $("lane-name-fi").value = lane?.name_fi ?? "";
      $("lane-name-en").value = lane?.name_en ?? "";
      for (const [field, fallback] of Object.entries(NUMBERS)) {
        $(INPUT_OF[field]).value = String(lane?.[field] ?? fallback);
      }
      $("lane-strategy").value = lane?.strategy ?? "manual";
      $("lane-active").checked = lane?.active ?? true;
      const hours = lane?.opening_hours || {};
      $("lane-timezone").value = hours.timezone || DEFAULT_TIMEZONE;
      const week = hours.week || {};
      $("lane-always-open").checked = Object.keys(week).length === 0;
      for (const input of $("lane-week").querySelectorAll("input")) input.value = "";
      renderWeek();
      for (const day of DAYS) {
        $(`lane-day-${day}`).value = (week[day] || []).map(([a, b]) => `${a}-${b}`).join(", ");
      }
      $("lane-closed").value = (hours.closed_dates || []).join(", ");
    }

    function startEdit(lane) {
      state.editing = lane.key;
      state.creating = false;
      fill(lane);
      renderForm();
      $("lane-name-fi").focus();
    }

    function startNew() {
      state.editing = null;
      state.creating = true;
      fill(null);
      renderForm();
      $("lane-key").focus();
    }

    function closeForm() {
      state.editing = null;
      state.creating = false;
      clearErrors();
      renderForm();
    }

    function clearErrors() {
      for (const slot of $("lane-form").querySelectorAll(".field-error")) slot.textContent = "";
      $("lane-error").textContent = "";
    }

    function mark(field, reason) {
      const slot = $("lane-form").querySelector(`.field-error[data-for="${CSS.escape(field)}"]`);
      if (slot) slot.textContent = reason;
    }

    /** The lane as the API takes it, or null when a field is marked wrong. */
    function collect() {
      let ok = true;
      const body = { name_fi: $("lane-name-fi").value.trim(),
        name_en: $("lane-name-en").value.trim(), strategy: $("lane-strategy").value,
        active: $("lane-active").checked };
      if (!state.editing) body.key = $("lane-key").value.trim().toLowerCase();
      for (const field of Object.keys(NUMBERS)) {
        const text = $(INPUT_OF[field]).value.trim();
        const value = Number(text);
        if (text === "" || !Number.isInteger(value)) {
          mark(field, t("lane_bad_number"));
          ok = false;
        } else body[field] = value;
      }
      const week = {};
      if (!$("lane-always-open").checked) {
        for (const day of DAYS) {
          const spans = parseSpans($(`lane-day-${day}`).value);
          if (spans === null) {
            mark("opening_hours", t("lane_bad_span", { day: t(`day_${day}`) }));
            ok = false;
          } else if (spans.length) week[day] = spans;
        }
        // Every day empty yet not "always open": closed all week is what the admin wrote.
        if (!Object.keys(week).length) for (const day of DAYS) week[day] = [];
      }
      const dates = $("lane-closed").value.split(",").map((d) => d.trim()).filter(Boolean);
      if (!dates.every((d) => DATE.test(d))) {
        mark("opening_hours", t("lane_bad_dates"));
        ok = false;
      }
      body.opening_hours = { timezone: $("lane-timezone").value.trim() || DEFAULT_TIMEZONE,
        week, closed_dates: dates };
      return ok ? body : null;
    }

    async function onSubmit(event) {
      event.preventDefault();
      clearErrors();
      const body = collect();
      if (!body) {
        $("lane-error").textContent = t("check_fields");
        return;
      }
      const editing = state.editing;
      try {
        const { lane } = editing
          ? await api("PUT", `${BASE}/${encodeURIComponent(editing)}`, body)
          : await api("POST", BASE, body);
        state.lanes = [...state.lanes.filter((l) => l.key !== lane.key), lane]
          .sort((a, b) => a.position - b.position || a.key.localeCompare(b.key));
        closeForm();
        renderList();
        publish();
        say(t(editing ? "lane_done_save" : "lane_done_add", { key: lane.key }));
      } catch (err) {
        if (err.status === 401) return;
        const fields = err.body.fields || {};
        for (const field of Object.keys(fields)) mark(field, err.message);
        $("lane-error").textContent = t("failed", { reason: err.message });
      }
    }

    $("lane-form").addEventListener("submit", onSubmit);
    $("lane-new").addEventListener("click", startNew);
    $("lane-cancel").addEventListener("click", closeForm);
    $("lane-always-open").addEventListener("change", renderWeek);

    return { activate, render };
  }

  const admin = globalThis.TaxiAdmin || (globalThis.TaxiAdmin = { sections: {} });
  admin.sections.lanes = createLanes;
})();
