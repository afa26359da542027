/* The passenger in the request pane: the card (the name, editable inline; numbers and
 * emails; previous requests, each opening on a click; the last pickup addresses), merging
 * another passenger into this one, and the "whole history" timeline across every request
 * and channel of the passenger, a mailed message's files shown as in the request pane
 * (attachments.js).
 *
 * console.js calls `TaxiConnect.passenger.show(request, { t, api, open, icon })` each time it
 * renders the request pane; this file adds its parts to the pane's passenger and timeline
 * cards once and keeps them current. A change of the request's version (an event) reloads
 * the card; a merge or a new name reaches every console as request.passenger_* events.
 *
 * Hub API (dispatch/passengers.py): GET and PATCH /api/v1/contacts/{id}, GET
 * /api/v1/contacts/{id}/timeline?before=&limit=, GET /api/v1/contacts?q=, POST
 * /api/v1/contacts/{id}/merge. External users get 403: then nothing is shown. Passenger data
 * reaches the page only as textContent.
 */
"use strict";

(() => {
  const LOCALES = { fi: "fi-FI", en: "en-GB" };
  const SEARCH_MIN_CHARS = 3; // GET /api/v1/contacts refuses fewer
  const SEARCH_DELAY_MS = 250; // one search per pause in typing, not one per key
  const RELOAD_DELAY_MS = 300; // coalesces a burst of events for the open request
  const PAGE = 30;
  const MAX_PAGE = 200; // the hub's limit: a reload keeps at most this many items shown
  const NAME_MAX = 200;
  const TEL = /^\+?[0-9]{3,20}$/;

  const state = {
    ctx: null, // console.js's helpers: {t, api, open, icon}
    request: null,
    contactId: null,
    version: null,
    card: null,
    denied: false,
    error: "",
    loadSeq: 0,
    reloadTimer: null,
    whole: false,
    items: [],
    next: null,
    timelineLoaded: false,
    timelineSeq: 0,
    searchSeq: 0,
    searchTimer: null,
    results: null, // null: nothing searched yet
    chosen: null, // the search result waiting for confirmation
    audio: new Map(), // recording id -> its <audio>: a re-render never stops a playing one
  };
  let ui = null;
  let files = null; // attachments.js, made on first use: it needs the words of console.js

  // ---- words and small helpers -------------------------------------------------------------

  const lang = window.TaxiConnect.words.lang;
  const tt = window.TaxiConnect.words.scope("passenger"); // this card's own words

  function t(key, values) {
    return state.ctx ? state.ctx.t(key, values) : key;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "className") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function when(iso, withTime = true) {
    const at = new Date(iso);
    if (Number.isNaN(at.getTime())) return el("span", {}, String(iso ?? ""));
    const options = withTime ? { dateStyle: "short", timeStyle: "short" } : { dateStyle: "short" };
    return el("time", { datetime: iso },
      new Intl.DateTimeFormat(LOCALES[lang()], options).format(at));
  }

  function channelTag(channel) {
    return el("span", { className: "pc-channel", "data-channel": channel },
      state.ctx?.icon?.(channel) || null, t(`channel_${channel}`));
  }

  /** A timeline message's files: its item's id is the message's, as the hub serves them. */
  function attachmentList(item) {
    if (!files) files = window.TaxiConnect.createAttachments?.({ t, el, lang }) || null;
    return files?.list(item.request, { ...item.message, id: item.id }) ?? null;
  }

  function contactPath(id, rest = "") {
    return `/api/v1/contacts/${encodeURIComponent(id)}${rest}`;
  }

  /** A number as dispatchers read it: phone.js, the console's one formatter. */
  function formatPhone(number) {
    return window.TaxiConnect.formatPhone(number);
  }

  function who(contact) {
    const phone = (contact.phones || [])[0];
    return contact.name || (phone && formatPhone(phone)) || (contact.emails || [])[0]
      || tt("unnamed");
  }

  // ---- building the parts once ---------------------------------------------------------------

  function build() {
    if (ui) return ui.ok;
    const nameNode = document.getElementById("passenger-name");
    const card = document.getElementById("passenger-heading")?.closest("section");
    const timeline = document.getElementById("timeline");
    const timelineHead = document.getElementById("timeline-heading");
    ui = { ok: Boolean(nameNode && card && timeline && timelineHead) };
    if (!ui.ok) return false;
    ui.nameNode = nameNode;
    ui.editButton = el("button", { type: "button", className: "quiet pc-edit",
      "data-testid": "passenger-name-edit" });
    ui.nameInput = el("input", { id: "pc-name-input", maxlength: NAME_MAX, autocomplete: "off",
      "data-testid": "passenger-name-input" });
    ui.nameLabel = el("label", { for: "pc-name-input", className: "visually-hidden" });
    ui.nameSave = el("button", { type: "submit", className: "primary",
      "data-testid": "passenger-name-save" });
    ui.nameCancel = el("button", { type: "button", className: "quiet" });
    ui.nameForm = el("form", { className: "pc-name-form", hidden: true, novalidate: true },
      ui.nameLabel, ui.nameInput, ui.nameSave, ui.nameCancel);
    ui.error = el("p", { className: "action-error pc-error", role: "alert",
      "data-testid": "passenger-error" });
    ui.status = el("p", { className: "visually-hidden", role: "status" });
    ui.chatIds = el("p", { className: "muted pc-chat-ids" });
    ui.previousTitle = el("h4", {});
    ui.previous = el("ul", { className: "plain pc-previous", "data-testid": "passenger-previous" });
    ui.pickupsTitle = el("h4", {});
    ui.pickups = el("ul", { className: "plain pc-pickups", "data-testid": "passenger-pickups" });
    ui.mergeOpen = el("button", { type: "button", className: "pc-merge-open",
      "aria-expanded": "false", "data-testid": "passenger-merge-open" });
    ui.mergeTitle = el("h4", {});
    ui.mergeSearch = el("input", { type: "search", id: "pc-merge-search", autocomplete: "off",
      spellcheck: "false", "data-testid": "passenger-merge-search" });
    ui.mergeLabel = el("label", { for: "pc-merge-search" });
    ui.mergeNote = el("p", { className: "muted", role: "status" });
    ui.mergeResults = el("ul", { className: "plain pc-results",
      "data-testid": "passenger-merge-results" });
    ui.confirmText = el("p", { "data-testid": "passenger-merge-question" });
    ui.confirmDo = el("button", { type: "button", className: "primary",
      "data-testid": "passenger-merge-confirm" });
    ui.confirmCancel = el("button", { type: "button", className: "quiet",
      "data-testid": "passenger-merge-cancel" });
    ui.confirm = el("div", { className: "pc-confirm", role: "alertdialog", hidden: true,
      "aria-labelledby": "pc-confirm-text" }, ui.confirmText,
    el("div", { className: "row end" }, ui.confirmCancel, ui.confirmDo));
    ui.confirmText.id = "pc-confirm-text";
    ui.merge = el("div", { className: "pc-merge", hidden: true, "data-testid": "passenger-merge" },
      ui.mergeTitle, ui.mergeLabel, ui.mergeSearch, ui.mergeNote, ui.mergeResults, ui.confirm);
    ui.more = el("div", { className: "pc-more", hidden: true, "data-testid": "passenger-card" },
      ui.chatIds, ui.previousTitle, ui.previous, ui.pickupsTitle, ui.pickups, ui.mergeOpen,
      ui.merge);
    nameNode.after(ui.editButton, ui.nameForm);
    card.append(ui.error, ui.status, ui.more);

    ui.toggle = el("button", { type: "button", className: "pc-toggle", "aria-pressed": "false",
      hidden: true, "data-testid": "passenger-whole-history" });
    ui.hint = el("p", { className: "muted pc-hint", hidden: true });
    ui.timeline = el("ol", { className: "timeline pc-timeline", hidden: true,
      "data-testid": "passenger-timeline" });
    ui.older = el("button", { type: "button", className: "quiet pc-older", hidden: true,
      "data-testid": "passenger-timeline-older" });
    ui.ownTimeline = timeline;
    timelineHead.after(ui.toggle);
    timeline.after(ui.hint, ui.timeline, ui.older);
    card.classList.add("pc-card");
    timelineHead.closest("section")?.classList.add("pc-timeline-card");

    ui.editButton.addEventListener("click", startEdit);
    ui.nameCancel.addEventListener("click", stopEdit);
    ui.nameForm.addEventListener("submit", saveName);
    ui.nameForm.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.stopPropagation(); // the pane stays open
        stopEdit();
      }
    });
    ui.mergeOpen.addEventListener("click", () => (ui.merge.hidden ? openMerge() : closeMerge()));
    ui.mergeSearch.addEventListener("input", scheduleSearch);
    ui.merge.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        closeMerge();
        ui.mergeOpen.focus();
      }
    });
    ui.confirmCancel.addEventListener("click", () => choose(null));
    ui.confirmDo.addEventListener("click", merge);
    ui.toggle.addEventListener("click", toggleWhole);
    ui.older.addEventListener("click", () => loadTimeline(false));
    return true;
  }

  // ---- what console.js calls -------------------------------------------------------------------

  function show(request, ctx) {
    state.ctx = ctx;
    if (!request || !build()) return;
    const contactId = request.contact?.id || null;
    const versionChanged = request.id !== state.request?.id || request.version !== state.version;
    state.request = request;
    state.version = request.version;
    if (contactId !== state.contactId) {
      state.contactId = contactId;
      state.card = null;
      state.denied = false;
      state.error = "";
      state.items = [];
      state.next = null;
      state.timelineLoaded = false;
      state.audio.clear();
      stopEdit();
      closeMerge();
      if (contactId) load();
    } else if (versionChanged && contactId) {
      window.clearTimeout(state.reloadTimer);
      state.reloadTimer = window.setTimeout(load, RELOAD_DELAY_MS);
    }
    render();
  }

  async function load() {
    const id = state.contactId;
    const seq = ++state.loadSeq;
    try {
      const { data } = await state.ctx.api("GET", contactPath(id));
      if (seq !== state.loadSeq || id !== state.contactId) return;
      state.card = data.contact;
      state.error = "";
    } catch (err) {
      if (seq !== state.loadSeq || id !== state.contactId) return;
      if (err.status === 403) state.denied = true;
      else state.error = tt("failed", { reason: err.message });
    }
    render();
    if (state.whole && state.card) loadTimeline(true);
  }

  // ---- the card ---------------------------------------------------------------------------------

  function render() {
    if (!ui?.ok) return;
    const card = state.card;
    const usable = Boolean(card) && !state.denied;
    ui.more.hidden = !usable;
    ui.editButton.hidden = !usable || !ui.nameForm.hidden;
    ui.toggle.hidden = !usable;
    ui.error.textContent = state.error;
    ui.editButton.textContent = tt("edit_name");
    ui.editButton.setAttribute("aria-label", tt("edit_name"));
    ui.nameLabel.textContent = tt("name_label");
    ui.nameSave.textContent = tt("save");
    ui.nameCancel.textContent = tt("cancel");
    ui.previousTitle.textContent = tt("previous");
    ui.pickupsTitle.textContent = tt("pickups");
    ui.mergeOpen.textContent = tt("merge_open");
    ui.mergeTitle.textContent = tt("merge_title");
    ui.mergeLabel.textContent = tt("merge_search");
    ui.confirmDo.textContent = tt("merge_do");
    ui.confirmCancel.textContent = tt("cancel");
    ui.toggle.textContent = tt("whole_history");
    ui.hint.textContent = tt("whole_history_hint");
    ui.older.textContent = tt("older");
    if (!usable) {
      showWhole(false);
      return;
    }
    ui.chatIds.hidden = !card.chat_identities;
    ui.chatIds.textContent = tt("chat_ids", { n: card.chat_identities || 0 });
    renderPrevious(card);
    renderPickups(card);
    renderResults();
    showWhole(state.whole);
    if (state.whole) renderTimeline();
  }

  function renderPrevious(card) {
    const current = state.request?.id;
    const others = (card.requests || []).filter((found) => found.id !== current);
    const items = others.map((found) => el("li", { className: "pc-request",
      "data-testid": "passenger-previous-request", "data-reference": found.reference },
    el("button", { type: "button", className: "link", "data-request-id": found.id,
      "aria-label": tt("open_previous", { ref: found.reference }) }, found.reference),
    " ", channelTag(found.channel), " ",
    el("span", { className: `badge status-${found.status}` }, t(`status_${found.status}`)),
    " ", when(found.started_at, false),
    found.last_agent ? el("span", { className: "muted" },
      ` · ${tt("by_agent", { name: found.last_agent.name })}`) : null));
    for (const item of items) {
      const button = item.querySelector("button");
      button.addEventListener("click", () => state.ctx.open(button.dataset.requestId));
    }
    const hiddenOlder = (card.requests_total || 0) - (card.requests || []).length;
    if (hiddenOlder > 0) {
      items.push(el("li", { className: "muted" }, tt("previous_more", { count: hiddenOlder })));
    }
    if (!others.length && hiddenOlder <= 0) {
      items.push(el("li", { className: "muted" }, tt("previous_none")));
    }
    ui.previous.replaceChildren(...items);
  }

  function renderPickups(card) {
    const pickups = card.pickup_addresses || [];
    ui.pickups.replaceChildren(...(pickups.length ? pickups.map((found) => el("li",
      { "data-testid": "passenger-pickup" }, el("span", { "data-user-text": "" }, found.address),
      " ",
      el("span", { className: "muted" }, "· ", when(found.at, false))))
      : [el("li", { className: "muted" }, tt("pickups_none"))]));
  }

  // ---- the name ---------------------------------------------------------------------------------

  function startEdit() {
    ui.nameInput.value = state.card?.name || "";
    ui.nameForm.hidden = false;
    ui.nameNode.hidden = true;
    ui.editButton.hidden = true;
    ui.nameInput.focus();
    ui.nameInput.select();
  }

  function stopEdit() {
    if (!ui?.ok) return;
    const wasOpen = !ui.nameForm.hidden;
    ui.nameForm.hidden = true;
    ui.nameNode.hidden = false;
    ui.editButton.hidden = !state.card || state.denied;
    if (wasOpen) ui.editButton.focus();
  }

  async function saveName(event) {
    event.preventDefault();
    const id = state.card?.id;
    if (!id) return;
    ui.nameSave.disabled = true;
    try {
      const { data } = await state.ctx.api("PATCH", contactPath(id),
        { name: ui.nameInput.value });
      state.card = data.contact;
      state.error = "";
      ui.nameNode.textContent = data.contact.name || t("unknown_passenger");
      stopEdit();
      announce(tt("name_saved"));
    } catch (err) {
      state.error = tt("failed", { reason: err.message });
    } finally {
      ui.nameSave.disabled = false;
    }
    render();
  }

  // ---- merging ----------------------------------------------------------------------------------

  function openMerge() {
    ui.merge.hidden = false;
    ui.mergeOpen.setAttribute("aria-expanded", "true");
    ui.mergeSearch.value = "";
    state.results = null;
    choose(null);
    renderResults();
    ui.mergeSearch.focus();
  }

  function closeMerge() {
    if (!ui?.ok) return;
    window.clearTimeout(state.searchTimer);
    state.searchSeq += 1;
    state.results = null;
    state.chosen = null;
    ui.merge.hidden = true;
    ui.confirm.hidden = true;
    ui.mergeOpen.setAttribute("aria-expanded", "false");
  }

  function scheduleSearch() {
    window.clearTimeout(state.searchTimer);
    choose(null);
    state.searchTimer = window.setTimeout(search, SEARCH_DELAY_MS);
    if (ui.mergeSearch.value.trim().length >= SEARCH_MIN_CHARS) {
      ui.mergeNote.textContent = tt("merge_searching");
    }
  }

  async function search() {
    const q = ui.mergeSearch.value.trim();
    const seq = ++state.searchSeq;
    if (q.length < SEARCH_MIN_CHARS) {
      state.results = null;
      renderResults();
      return;
    }
    try {
      const { data } = await state.ctx.api("GET",
        `/api/v1/contacts?q=${encodeURIComponent(q)}`);
      if (seq !== state.searchSeq) return;
      state.results = (data.contacts || []).filter((found) => found.id !== state.card?.id);
    } catch (err) {
      if (seq !== state.searchSeq) return;
      state.results = [];
      state.error = tt("failed", { reason: err.message });
    }
    renderResults();
    render();
  }

  function renderResults() {
    if (!ui?.ok || ui.merge.hidden) return;
    const results = state.results;
    ui.mergeNote.textContent = results === null
      ? tt("merge_min", { n: SEARCH_MIN_CHARS }) : results.length ? "" : tt("merge_none");
    ui.mergeResults.replaceChildren(...(results || []).map((found) => {
      const numbers = [...(found.phones || []).map(formatPhone), ...(found.emails || [])]
        .join(", ");
      const count = tt("merge_requests", { count: found.requests_total || 0 });
      const button = el("button", { type: "button", "data-testid": "passenger-merge-choose" },
        tt("merge_choose"));
      button.addEventListener("click", () => choose(found));
      return el("li", { className: "pc-result", "data-testid": "passenger-merge-result",
        "data-contact-id": found.id, "aria-current": state.chosen?.id === found.id ? "true"
          : null },
      el("span", { className: "pc-result-text" }, el("strong", {}, found.name || tt("unnamed")),
        numbers ? el("span", { className: "muted" }, ` · ${numbers}`) : null,
        el("span", { className: "muted" }, ` · ${count}`)), button);
    }));
  }

  function choose(found) {
    state.chosen = found;
    if (!ui?.ok) return;
    ui.confirm.hidden = !found;
    if (found) {
      ui.confirmText.textContent = tt("merge_confirm", { who: who(found) });
      ui.confirmDo.disabled = false;
      ui.confirmCancel.focus();
    }
    renderResults();
  }

  async function merge() {
    const other = state.chosen;
    const into = state.card?.id;
    if (!other || !into) return;
    ui.confirmDo.disabled = true;
    try {
      const { data } = await state.ctx.api("POST", contactPath(other.id, "/merge"), { into });
      state.card = data.contact;
      state.error = "";
      closeMerge();
      ui.mergeOpen.focus();
      announce(tt("merge_done"));
      if (state.whole) loadTimeline(true);
    } catch (err) {
      state.error = tt("failed", { reason: err.message });
      ui.confirmDo.disabled = false;
    }
    render();
  }

  function announce(text) {
    ui.status.textContent = "";
    window.setTimeout(() => { ui.status.textContent = text; }, 50);
  }

  // ---- the whole history ------------------------------------------------------------------------

  function showWhole(on) {
    ui.toggle.setAttribute("aria-pressed", String(on));
    ui.ownTimeline.hidden = on;
    ui.hint.hidden = !on;
    ui.timeline.hidden = !on;
    ui.older.hidden = !on || !state.next;
  }

  function toggleWhole() {
    state.whole = !state.whole;
    if (state.whole && !state.timelineLoaded) loadTimeline(true);
    render();
  }

  async function loadTimeline(first) {
    const id = state.card?.id;
    if (!id) return;
    const seq = ++state.timelineSeq;
    const limit = first ? Math.min(MAX_PAGE, Math.max(PAGE, state.items.length)) : PAGE;
    const before = !first && state.next ? `&before=${encodeURIComponent(state.next)}` : "";
    ui.older.disabled = true;
    try {
      const { data } = await state.ctx.api("GET", contactPath(id, `/timeline?limit=${limit}${before}`));
      if (seq !== state.timelineSeq || id !== state.card?.id) return;
      state.items = first ? data.items : state.items.concat(data.items);
      state.next = data.next_before;
      state.timelineLoaded = true;
    } catch (err) {
      if (seq !== state.timelineSeq) return;
      state.error = tt("failed", { reason: err.message });
    } finally {
      ui.older.disabled = false;
    }
    render();
  }

  function renderTimeline() {
    if (!state.timelineLoaded) {
      ui.timeline.replaceChildren(el("li", { className: "muted" }, tt("loading")));
      return;
    }
    ui.timeline.replaceChildren(...(state.items.length ? state.items.map(itemNode)
      : [el("li", { className: "muted" }, tt("timeline_empty"))]));
  }

  function itemNode(item) {
    const head = el("p", { className: "entry-head" }, channelTag(item.channel), " · ",
      referenceButton(item.request), " · ", when(item.at));
    const attrs = { "data-testid": "passenger-timeline-item", "data-kind": item.kind,
      "data-channel": item.channel, "data-reference": item.request?.reference };
    if (item.kind === "message") return messageNode(item, head, attrs);
    if (item.kind === "call") return callNode(item, head, attrs);
    return eventNode(item, head, attrs);
  }

  function referenceButton(request) {
    if (!request) return "";
    const button = el("button", { type: "button", className: "link pc-ref",
      "aria-label": tt("open_previous", { ref: request.reference }) }, request.reference);
    button.addEventListener("click", () => state.ctx.open(request.id));
    return button;
  }

  function messageNode(item, head, attrs) {
    const message = item.message;
    const inbound = message.direction !== "outbound";
    const author = inbound ? (state.card?.name || t("from_passenger"))
      : (message.agent?.name || t("from_agent"));
    const recipient = inbound ? null : message.deliveries?.[0]?.recipient;
    head.prepend(el("strong", {}, author), recipient && item.channel !== "chat"
      ? ` ${tt("to", { who: formatPhone(recipient) })}` : "", " · ");
    return el("li", { ...attrs, className: `entry message ${inbound ? "inbound" : "outbound"}`,
      "data-direction": inbound ? "inbound" : "outbound" }, head,
    message.subject ? el("p", { className: "subject" }, message.subject) : null,
    el("p", { className: "body" }, message.body || ""),
    attachmentList(item),
    inbound || !(message.deliveries || []).length ? null
      : el("ul", { className: "deliveries", "aria-label": t("delivery") },
        message.deliveries.map((delivery) => el("li", { className: "delivery" },
          el("span", { className: `badge delivery-${delivery.state}`,
            "data-testid": "passenger-delivery", "data-state": delivery.state },
          t(`delivery_${delivery.state}`))))));
  }

  function callNode(item, head, attrs) {
    const call = item.call;
    const inbound = call.direction !== "out";
    const number = inbound ? call.caller : call.called;
    head.prepend(el("strong", {}, t(inbound ? "call_in" : "call_out")), " · ",
      number && number !== "anonymous" ? (TEL.test(number)
        ? el("a", { href: `tel:${number}`, className: "num" }, formatPhone(number)) : number)
        : t("caller_anonymous"), " · ");
    const answered = Boolean(call.answered_at);
    const outcome = call.state === "ringing" ? t("call_ringing")
      : answered ? (call.agent?.name ? t("call_answered_by", { name: call.agent.name })
        : t("call_answered"))
        : t(inbound ? "call_missed" : "call_not_answered", { cause: call.cause || "" });
    return el("li", { ...attrs, className: `entry call call-${inbound ? "in" : "out"}${
      !answered && inbound && call.state === "ended" ? " missed" : ""}` }, head,
    el("p", { className: "body call-outcome" }, outcome),
    (call.recordings || []).length ? el("ul", { className: "recordings" },
      call.recordings.map(recordingNode)) : null);
  }

  function recordingNode(recording) {
    const label = t(recording.kind === "voicemail" ? "rec_voicemail" : "rec_recording");
    let audio = state.audio.get(recording.id);
    if (!audio) {
      // Fetched only when played: the hub records each fetch as a listen.
      audio = el("audio", { controls: true, preload: "none", src: recording.audio_url });
      state.audio.set(recording.id, audio);
    }
    audio.setAttribute("aria-label", label);
    return el("li", { className: "recording", "data-testid": "passenger-recording" },
      el("p", { className: "recording-head" }, el("strong", {}, label)), audio,
      recording.transcription ? el("blockquote", {}, recording.transcription) : null);
  }

  function eventNode(item, head, attrs) {
    const event = item.event;
    const target = event.target_agent?.name || t("nobody");
    const key = `act_${event.action}`;
    const action = t(key, { target });
    head.prepend(el("strong", {}, event.agent?.name || t("from_agent")),
      ` ${action === key ? event.action : action}`, " · ");
    return el("li", { ...attrs, className: `entry handling action-${event.action}` }, head,
      event.note ? el("p", { className: "body note" }, event.note) : null);
  }

  window.TaxiConnect = Object.assign(window.TaxiConnect || {}, { passenger: { show } });
})();
