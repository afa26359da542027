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
  const WORDS = {
    fi: {
      callback_attempts_one: "1 yritys",
      callback_attempts: "{n} yritystä",
      cb_calling: "Soitetaan…",
      cb_via_pbx: "Puhelu yhdistetään… Vastaa puhelimeesi, sitten numeroon {number} soitetaan.",
      cb_via_tel: "Soita numeroon {number} puhelimellasi.",
      cb_pbx_failed: "Vaihde ei ottanut puhelua ({reason}). Soita numeroon {number} "
        + "puhelimellasi.",
      cb_failed: "Ei onnistunut: {reason}",
      cb_conflict: "Ristiriita: {reason}",
      cb_outcome_title: "Miten soitto meni?",
      cb_note: "Muistiinpano (valinnainen)",
      cb_outcome_reached: "Tavoitettu",
      cb_outcome_no_answer: "Ei vastausta",
      cb_outcome_busy: "Varattu",
      cb_outcome_wrong_number: "Väärä numero",
      cb_outcome_left_message: "Jätti viestin",
      cb_recorded: "Kirjattu: {outcome}",
      act_callback_call: "soitti takaisin",
      act_cb_reached: "tavoitti matkustajan",
      act_cb_no_answer: "soitti: ei vastausta",
      act_cb_busy: "soitti: varattu",
      act_cb_wrong_number: "soitti: väärä numero",
      act_cb_left_message: "soitti: jätti viestin",
    },
    en: {
      callback_attempts_one: "1 attempt",
      callback_attempts: "{n} attempts",
      cb_calling: "Calling…",
      cb_via_pbx: "Connecting via the PBX… Answer your phone, then {number} is dialled.",
      cb_via_tel: "Call {number} on your phone.",
      cb_pbx_failed: "The PBX did not take the call ({reason}). Call {number} on your phone.",
      cb_failed: "Failed: {reason}",
      cb_conflict: "Conflict: {reason}",
      cb_outcome_title: "How did the call go?",
      cb_note: "Note (optional)",
      cb_outcome_reached: "Reached",
      cb_outcome_no_answer: "No answer",
      cb_outcome_busy: "Busy",
      cb_outcome_wrong_number: "Wrong number",
      cb_outcome_left_message: "Left a message",
      cb_recorded: "Recorded: {outcome}",
      act_callback_call: "called back",
      act_cb_reached: "reached the passenger",
      act_cb_no_answer: "called back: no answer",
      act_cb_busy: "called back: busy",
      act_cb_wrong_number: "called back: wrong number",
      act_cb_left_message: "called back: left a message",
    },
  };
  const OUTCOMES = ["reached", "no_answer", "busy", "wrong_number", "left_message"];
  const NOTE_MAX = 4000; // dispatch/actions.py MAX_NOTE_CHARS

  function createCallbacks({ t, api, el, addWords, me, announce, changed }) {
    addWords(WORDS);
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
      const reason = err.body?.error || err.message;
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
