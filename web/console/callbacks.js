/* Calling a passenger back from the request pane's callback box.
 *
 * console.js draws the box (the number, missed calls, deadline, attempts) and its "Soita /
 * Call" link, a plain tel: link; `show(request, callback)` is called on every render of the
 * pane and makes that link call the hub first: POST /api/v1/requests/{id}/call records the
 * callback (taking the request if nobody holds it) and either has the PBX ring the
 * dispatcher's own phone ({via: "pbx"}: we say so and wait) or answers with the tel: link
 * to open ({via: "tel"}). Then the outcome buttons (reached, no answer, busy, wrong number,
 * left a message), with an optional note, POST .../callback-outcome. "Reached" ends the
 * callback: the box goes, the request stays with the dispatcher to resolve.
 *
 * The parts below the link are built once and kept across renders, so a note being typed
 * survives the live updates of the request; they are cleared when another request opens.
 */
"use strict";

(() => {
  const OUTCOMES = ["reached", "no_answer", "busy", "wrong_number", "left_message"];
  const NOTE_MAX = 4000; // dispatch/actions.py MAX_NOTE_CHARS

  function createCallbacks({ t, api, el, me, announce, changed }) {
    document.head.append(el("link", { rel: "stylesheet", href: "/static/console/callbacks.css" }));
    const state = {
      requestId: null,
      request: null,
      busy: false,
      status: null, // {key, values}: what the last action said, re-worded on a language change
      error: null,
      called: false, // this console called: show the outcomes even before the event is back
    };
    let ui = null;

    function build() {
      const box = document.getElementById("callback-box");
      const link = document.getElementById("callback-call");
      if (!box || !link) return null;
      const made = {
        status: el("p", { className: "callback-status", role: "status",
          "data-testid": "callback-status" }),
        error: el("p", { className: "action-error", role: "alert",
          "data-testid": "callback-error" }),
        title: el("legend", {}),
        noteLabel: el("label", { for: "callback-note" }),
        note: el("input", { id: "callback-note", maxlength: NOTE_MAX, autocomplete: "off",
          "data-testid": "callback-note" }),
        buttons: new Map(),
      };
      made.group = el("fieldset", { className: "callback-outcomes", hidden: true,
        "data-testid": "callback-outcomes" }, made.title,
      el("div", { className: "field" }, made.noteLabel, made.note));
      const row = el("div", { className: "row" });
      for (const outcome of OUTCOMES) {
        const button = el("button", { type: "button", "data-outcome": outcome,
          "data-testid": `callback-outcome-${outcome}` });
        button.addEventListener("click", () => record(outcome));
        made.buttons.set(outcome, button);
        row.append(button);
      }
      made.group.append(row);
      link.after(made.status, made.group, made.error);
      return made;
    }

    function mine(request) {
      const self = me();
      if (!self) return false;
      if (request.status === "resolved") return request.last_agent?.id === self.id;
      return !request.assigned_agent || request.assigned_agent.id === self.id;
    }

    /** Called by console.js each time it draws the open request's callback box. */
    function show(request, callback) {
      ui ||= build();
      if (!ui) return;
      if (request.id !== state.requestId) {
        Object.assign(state, { requestId: request.id, status: null, error: null,
          called: false, busy: false });
        ui.note.value = "";
      }
      state.request = request;
      const link = document.getElementById("callback-call")
        ?.querySelector('[data-testid="callback-call"]');
      if (link) {
        link.addEventListener("click", (event) => {
          event.preventDefault();
          call(link.getAttribute("href"));
        });
        link.setAttribute("aria-disabled", String(state.busy || request.status === "resolved"));
      }
      const called = state.called || Boolean(request.details?.callback_called_at);
      ui.group.hidden = !(callback.number && called && mine(request));
      paint();
    }

    function paint() {
      ui.title.textContent = t("cb_outcome_title");
      ui.noteLabel.textContent = t("cb_note");
      for (const [outcome, button] of ui.buttons) {
        button.textContent = t(`cb_outcome_${outcome}`);
        button.disabled = state.busy;
        button.className = outcome === "reached" ? "primary" : "";
      }
      ui.status.textContent = state.status ? t(state.status.key, state.status.values) : "";
      ui.error.textContent = state.error ? t(state.error.key, state.error.values) : "";
    }

    function failed(err) {
      const reason = err.message;
      state.error = { key: err.status === 409 ? "cb_conflict" : "cb_failed", values: { reason } };
    }

    async function call(href) {
      const request = state.request;
      if (!request || state.busy || request.status === "resolved") return;
      const id = request.id;
      Object.assign(state, { busy: true, error: null, status: { key: "cb_calling" } });
      paint();
      try {
        const { data } = await api("POST", `/api/v1/requests/${encodeURIComponent(id)}/call`);
        if (id !== state.requestId) return;
        const number = window.TaxiConnect.formatPhone(data.number);
        state.called = true;
        if (data.via === "pbx") {
          state.status = { key: "cb_via_pbx", values: { number } };
        } else {
          state.status = data.pbx_error
            ? { key: "cb_pbx_failed", values: { number, reason: data.pbx_error } }
            : { key: "cb_via_tel", values: { number } };
          window.location.href = data.tel || href; // the phone app, or a softphone
        }
        announce(t(state.status.key, state.status.values));
        changed(data.request);
      } catch (err) {
        if (err.status === 401 || id !== state.requestId) return;
        state.status = null;
        failed(err);
        if (err.status === 409) changed(null);
      } finally {
        if (id === state.requestId) state.busy = false;
        if (ui) paint();
      }
    }

    async function record(outcome) {
      const request = state.request;
      if (!request || state.busy) return;
      const id = request.id;
      const note = ui.note.value.trim();
      Object.assign(state, { busy: true, error: null });
      paint();
      try {
        const { data } = await api("POST",
          `/api/v1/requests/${encodeURIComponent(id)}/callback-outcome`,
          note ? { outcome, note } : { outcome });
        if (id !== state.requestId) return;
        ui.note.value = "";
        state.status = { key: "cb_recorded", values: { outcome: t(`cb_outcome_${outcome}`) } };
        announce(t(state.status.key, state.status.values));
        changed(data.request);
      } catch (err) {
        if (err.status === 401 || id !== state.requestId) return;
        failed(err);
        if (err.status === 409) changed(null);
      } finally {
        if (id === state.requestId) state.busy = false;
        if (ui) paint();
      }
    }

    return { show };
  }

  window.TaxiConnect = Object.assign(window.TaxiConnect || {}, { createCallbacks });
})();
