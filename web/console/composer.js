/* The reply composer of the request detail: the text, the channel it leaves on, an email's
 * subject, the SMS segment counter, and sending it exactly once. On a chat, the passenger's
 * widget is told while the dispatcher types.
 *
 * Each composed message has one client key, kept with its draft until the hub has taken the
 * message: a resend after a lost answer carries the same key, and the hub stores and sends it
 * once. Drafts are kept per request while the console is open, so switching requests loses
 * nothing. Passenger data reaches the page only as textContent, values and option text.
 */
"use strict";

(() => {
  // dispatch/replies.py MAX_REPLY_CHARS; a chat reply has its default.
  const MAX_CHARS = { sms: 1600, email: 100000, chat: 4000 };
  const MAX_SUBJECT_CHARS = 200;
  const WARN_SEGMENTS = 3; // beyond this an SMS is long and dear: warned of, not refused
  const REPLY_CHANNELS = ["chat", "sms", "email"]; // the order they are offered in
  const IDENTITY = { sms: "phones", email: "emails" }; // a chat is reached by its widget
  // POST /api/v1/requests/{id}/typing (channels/chat/channel.py): {on: true} again at most
  // this often while keys are pressed (the widget shows it for 6 s), {on: false} after this
  // long without one, or when the reply is sent.
  const TYPING_EVERY_MS = 2000;
  const TYPING_IDLE_MS = 5000;
  // A lost answer (no network, a proxy's 502-504, a busy hub's 503) is resent with the same
  // key, after these pauses; then the dispatcher decides, and Send still reuses the key.
  const RESEND_AFTER_MS = [1000, 3000];
  const RESENDABLE = new Set([0, 502, 503, 504]);
  // What Python's str.strip() strips: the hub counts and sends the stripped text.
  const SPACE = "[\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f"
    + "\\u205f\\u3000]";
  const EDGE_SPACE = new RegExp(`^${SPACE}+|${SPACE}+$`, "g");
  const REPLY_PREFIX = /^(re|vs|sv):/i; // subjects channels/email/send.py leaves as they are
  // The hub's 422 `fields`, as the words the dispatcher reads before the hub's own reason.
  const FIELD_ERRORS = {
    "body.required": "reply_error_empty",
    "body.too_long": "reply_error_too_long",
    "body.invalid_characters": "reply_error_characters",
    "subject.too_long": "reply_error_subject",
    "subject.invalid": "reply_error_subject",
    "channel.opted_out": "reply_error_opted_out",
    "channel.unreachable": "reply_error_no_channel",
    "channel.none": "reply_error_no_channel",
    "channel.not_enabled": "reply_error_no_channel",
    "attachments.not_uploaded": "attach_error_gone",
    "attachments.email_only": "attach_error_email_only",
  };

  function strip(text) {
    return text.replace(EDGE_SPACE, "");
  }

  function length(text) {
    return [...text].length; // code points, as the hub's len() counts
  }

  function newKey() {
    if (globalThis.crypto.randomUUID) return crypto.randomUUID();
    // randomUUID needs a secure context, which a console on plain http inside the centre
    // is not; getRandomValues works everywhere.
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-`
      + hex.slice(20);
  }

  function sleep(ms) {
    return new Promise((resolve) => { window.setTimeout(resolve, ms); });
  }

  /** The channels a reply can leave on: the request's own, a chat the passenger wrote in,
   * and SMS or email when the passenger has a number or an address; the first one is the
   * default. */
  function channelsOf(request) {
    const contact = request.contact || {};
    const own = REPLY_CHANNELS.filter((channel) => channel === request.channel);
    const reachable = REPLY_CHANNELS.filter((channel) => channel !== request.channel
      && (channel === "chat" ? Boolean(lastInbound(request, "chat"))
        : (contact[IDENTITY[channel]] || []).length > 0));
    return [...own, ...reachable];
  }

  function lastInbound(request, channel) {
    const messages = (request.messages || []).filter(
      (message) => message.direction === "inbound" && message.channel === channel);
    return messages[messages.length - 1] || null;
  }

  /** Whom the hub will send to: who wrote last on the channel, else their newest identity. */
  function recipientOf(request, channel) {
    if (channel === "chat") return ""; // the widget's visitor id means nothing to a person
    const from = lastInbound(request, channel)?.details?.from;
    if (typeof from === "string" && from) return from;
    const known = (request.contact || {})[IDENTITY[channel]] || [];
    return known[known.length - 1] || "";
  }

  function subjectFor(request) {
    const subject = strip(lastInbound(request, "email")?.subject || "");
    if (!subject) return "";
    const reply = REPLY_PREFIX.test(subject) ? subject : `Re: ${subject}`;
    return [...reply].slice(0, MAX_SUBJECT_CHARS).join("");
  }

  /**
   * deps: t(key, values), api(method, path, body) -> {data} or throws {status, body},
   * channelLabel(channel), onSent(requestId, answer), onRefused(requestId).
   */
  // The allowed types ([email] attachment_types) as a dispatcher knows them.
  const TYPE_NAMES = {
    "application/pdf": "PDF", "image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF",
    "image/webp": "WebP", "text/plain": "TXT",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel",
    "application/vnd.oasis.opendocument.text": "ODT",
  };

  function createComposer({ t, api, channelLabel, onSent, onRefused }) {
    const $ = (id) => document.getElementById(id);
    const section = $("composer");
    const textarea = $("composer-text");
    const select = $("composer-channel");
    const subject = $("composer-subject");
    const send = $("composer-send");
    const drafts = new Map(); // request id -> draft
    let request = null; // the request shown
    let optionsShown = "";
    let generation = 0; // bumped on logout: a resend loop of the old session stops
    const typing = { id: null, sentAt: 0, idle: null }; // the chat told "typing" now
    // canned.js, when the page loads it: the canned-reply picker inserts into the textarea.
    const canned = globalThis.TaxiConnect.createCannedPicker?.({
      api, textarea, current: () => request }) ?? null;

    const files = createFiles();

    function draftOf(id) {
      let draft = drafts.get(id);
      if (!draft) {
        draft = { text: "", subject: "", subjectTouched: false, channel: null, key: null,
          keyBody: null, sending: false, resending: false, error: null, done: "",
          files: [], uploading: [] };
        drafts.set(id, draft);
      }
      return draft;
    }

    function chosenChannel() {
      const offered = channelsOf(request);
      const wanted = draftOf(request.id).channel;
      return offered.includes(wanted) ? wanted : (offered[0] || null);
    }

    /** Show the composer for `next` (a summary or the full detail), or hide it for null.
     * Called on every render of the detail: it never touches text being typed. */
    function show(next) {
      if (!next) {
        stopTyping();
        section.hidden = true;
        request = null;
        canned?.show();
        return;
      }
      section.hidden = false;
      const switched = !request || request.id !== next.id;
      if (switched) stopTyping();
      if (switched && request) {
        const left = drafts.get(request.id);
        if (left && !left.text && !left.key && !left.sending) drafts.delete(request.id);
      }
      request = next;
      if (switched) canned?.show();
      const draft = draftOf(next.id);
      if (switched) {
        textarea.value = draft.text;
        subject.value = draft.subject;
        if (!draft.sending) {
          draft.error = null;
          draft.done = "";
        }
      }
      render();
    }

    function renderChannels(offered, channel) {
      const shown = [document.documentElement.lang, ...offered].join(" ");
      if (shown !== optionsShown) {
        optionsShown = shown;
        select.replaceChildren(...offered.map((value) => {
          const option = document.createElement("option");
          option.value = value;
          option.textContent = channelLabel(value);
          return option;
        }));
      }
      if (channel) select.value = channel;
      select.disabled = offered.length === 0;
    }

    function countText(text) {
      const found = globalThis.TaxiConnect.countSegments(text);
      const chars = length(text);
      return {
        segments: found.count,
        text: [t("count_chars", { count: chars }), t("count_segments", { count: found.count }),
          found.encoding === "gsm7" ? "GSM-7" : "UCS-2"].join(" · "),
      };
    }

    function errorText(error) {
      if (error.local) return t(error.local, error.values);
      const body = error.body || {};
      const detail = error.status !== 0 ? window.TaxiConnect.words.errorText(body) : "";
      let lead = error.attach ? "attach_error" : "reply_error";
      if (error.status === 0) lead = "reply_error_network";
      else if (error.status === 409) {
        lead = body.status === "resolved" ? "reply_error_resolved" : "reply_error_held";
      } else if (error.status === 404) lead = "reply_error_not_found";
      else if (error.status === 503) lead = "reply_error_busy";
      else if (error.status === 422 || error.status === 400) {
        const [field, code] = Object.entries(body.fields || {})[0] || [];
        lead = FIELD_ERRORS[`${field}.${code}`] || lead;
      }
      return detail ? `${t(lead)}: ${detail}` : t(lead);
    }

    function render() {
      if (!request) return;
      const draft = draftOf(request.id);
      const offered = channelsOf(request);
      const channel = chosenChannel();
      renderChannels(offered, channel);
      const to = channel ? window.TaxiConnect.formatPhone(recipientOf(request, channel)) : "";
      $("composer-to").textContent = channel === "chat" ? t("composer_to_chat")
        : to ? t("composer_to", { to }) : "";

      $("composer-subject-field").hidden = channel !== "email";
      files.render(draft, channel === "email");
      if (channel === "email" && !draft.subjectTouched) {
        draft.subject = subjectFor(request);
        if (subject.value !== draft.subject) subject.value = draft.subject;
      }

      const text = strip(textarea.value);
      const limit = MAX_CHARS[channel] || 0;
      const over = Boolean(channel) && length(text) > limit;
      const counter = $("composer-counter");
      let warning = "";
      if (channel === "sms") {
        const counted = countText(text);
        counter.textContent = counted.text;
        if (counted.segments > WARN_SEGMENTS) {
          warning = t("composer_many_segments", { n: counted.segments });
        }
      } else {
        counter.textContent = "";
      }
      if (over) warning = t("composer_too_long", { limit, n: length(text) });
      counter.hidden = channel !== "sms";
      const warningBox = $("composer-warning");
      if (warningBox.textContent !== warning) warningBox.textContent = warning;
      warningBox.classList.toggle("blocking", over);
      textarea.setAttribute("aria-invalid", String(over));

      const resolved = request.status === "resolved";
      const note = !channel ? t("composer_no_channel") : resolved ? t("composer_resolved") : "";
      $("composer-note").textContent = note;
      $("composer-note").hidden = !note;

      textarea.readOnly = draft.sending;
      subject.readOnly = draft.sending;
      send.disabled = !channel || resolved || over || draft.uploading.length > 0;
      // Not `disabled` while sending: a focused button that is disabled loses the focus.
      send.setAttribute("aria-disabled", String(draft.sending));
      send.textContent = t(draft.sending ? "composer_sending" : "composer_send");
      const status = draft.resending ? t("reply_resending") : draft.done;
      if ($("composer-status").textContent !== status) $("composer-status").textContent = status;
      const error = draft.error ? errorText(draft.error) : "";
      if ($("composer-error").textContent !== error) $("composer-error").textContent = error;
      canned?.render(draft.sending);
    }

    async function post(id, payload, draft, started) {
      const path = `/api/v1/requests/${encodeURIComponent(id)}/replies`;
      for (let attempt = 0; ; attempt += 1) {
        try {
          const { data } = await api("POST", path, payload);
          return data || {};
        } catch (err) {
          if (!RESENDABLE.has(err.status) || attempt >= RESEND_AFTER_MS.length
              || started !== generation) throw err;
          draft.resending = true;
          if (request && request.id === id) render();
          await sleep(RESEND_AFTER_MS[attempt]);
        }
      }
    }

    async function submit() {
      if (!request) return;
      const id = request.id;
      const draft = draftOf(id);
      if (draft.sending) return;
      draft.text = textarea.value;
      draft.done = "";
      const channel = chosenChannel();
      const text = strip(textarea.value);
      let local = null;
      if (!channel) local = { local: "composer_no_channel" };
      else if (request.status === "resolved") local = { local: "composer_resolved" };
      else if (!text) local = { local: "composer_empty" };
      else if (length(text) > MAX_CHARS[channel]) {
        local = { local: "composer_too_long", values: { limit: MAX_CHARS[channel],
          n: length(text) } };
      }
      if (local) {
        draft.error = local;
        render();
        textarea.focus();
        return;
      }
      if (!draft.key) { // one key per composed message, kept for every resend of it
        draft.key = newKey();
        draft.keyBody = text;
      }
      stopTyping();
      const payload = { body: text, client_key: draft.key, channel };
      const subjectText = strip(subject.value);
      if (channel === "email" && subjectText) payload.subject = subjectText;
      if (channel === "email" && draft.files.length) {
        payload.attachments = draft.files.map((file) => file.sha256);
      }
      draft.sending = true;
      draft.error = null;
      render();
      const started = generation;
      try {
        const answer = await post(id, payload, draft, started);
        if (started !== generation) return;
        if (answer.changed === false && text !== draft.keyBody) {
          // An earlier try, thought lost, had reached the hub before the text was edited:
          // that one went out. The edit stays, to be sent as a message of its own.
          draft.key = null;
          draft.done = t("reply_edit_not_sent");
        } else {
          drafts.delete(id); // the hub has it: whatever is typed next is a new message
          draftOf(id).done = t("reply_queued"); // read out by the status line
          if (request && request.id === id) {
            textarea.value = "";
            subject.value = "";
          }
        }
        onSent(id, answer);
      } catch (err) {
        if (started !== generation || err.status === 401) return; // the login is shown
        draft.error = { status: err.status, body: err.body };
        if (err.status === 409) onRefused(id);
      } finally {
        draft.sending = false;
        draft.resending = false;
        if (request && request.id === id) render();
      }
    }

    function postTyping(id, on) {
      api("POST", `/api/v1/requests/${encodeURIComponent(id)}/typing`, { on })
        .catch(() => {}); // a hint to the passenger: nothing to retry or report
    }

    /** A key pressed in a reply to a chat: tell the widget, at most every TYPING_EVERY_MS. */
    function typed() {
      if (!request || chosenChannel() !== "chat" || request.status === "resolved"
          || !strip(textarea.value)) {
        stopTyping();
        return;
      }
      if (typing.id !== request.id) stopTyping();
      const at = Date.now();
      if (typing.id !== request.id || at - typing.sentAt >= TYPING_EVERY_MS) {
        typing.id = request.id;
        typing.sentAt = at;
        postTyping(request.id, true);
      }
      window.clearTimeout(typing.idle);
      typing.idle = window.setTimeout(stopTyping, TYPING_IDLE_MS);
    }

    function stopTyping() {
      window.clearTimeout(typing.idle);
      if (typing.id === null) return;
      const id = typing.id;
      typing.id = null;
      typing.sentAt = 0;
      postTyping(id, false);
    }

    function onKey(event) {
      if (event.key !== "Enter" || event.isComposing) return;
      if (event.ctrlKey || event.metaKey) {
        event.preventDefault();
        submit();
      } else if (event.target === subject) {
        event.preventDefault(); // Enter in the subject moves on to the text, never sends
        textarea.focus();
      }
    }

    $("composer-form").addEventListener("submit", (event) => {
      event.preventDefault();
      submit();
    });
    $("composer-form").addEventListener("keydown", onKey);
    textarea.addEventListener("input", () => {
      if (!request) return;
      const draft = draftOf(request.id);
      draft.text = textarea.value;
      draft.done = "";
      if (draft.error?.local) draft.error = null;
      render();
      typed();
    });
    subject.addEventListener("input", () => {
      if (!request) return;
      const draft = draftOf(request.id);
      draft.subject = subject.value;
      draft.subjectTouched = true;
    });
    select.addEventListener("change", () => {
      if (!request) return;
      const draft = draftOf(request.id);
      draft.channel = select.value;
      if (draft.error?.local) draft.error = null;
      render();
      if (select.value !== "chat") stopTyping();
    });

    /** Logout: drop every draft and stop any resend of the ended session. */
    function forget() {
      canned?.forget();
      window.clearTimeout(typing.idle); // the session is over: nobody is typing in it
      typing.id = null;
      generation += 1;
      drafts.clear();
      request = null;
      textarea.value = "";
      subject.value = "";
      section.hidden = true;
    }

    /** The "Attach file" button, the limits and the chosen files' chips with remove. */
    function createFiles() {
      let limits = null; // GET /api/v1/attachment-limits, once
      const input = Object.assign(document.createElement("input"), {
        type: "file", multiple: true, hidden: true, id: "composer-file" });
      input.dataset.testid = "composer-file";
      const button = Object.assign(document.createElement("button"), {
        type: "button", className: "composer-attach" });
      button.dataset.testid = "composer-attach";
      const note = Object.assign(document.createElement("span"), {
        className: "composer-attach-limits", id: "composer-attach-limits" });
      button.setAttribute("aria-describedby", note.id);
      const chips = Object.assign(document.createElement("ul"), {
        className: "attachments composer-files" });
      chips.dataset.testid = "composer-files";
      const field = Object.assign(document.createElement("div"), {
        className: "composer-attach-field", hidden: true });
      field.append(button, note, input, chips);
      $("composer-subject-field").after(field);
      button.addEventListener("click", () => input.click());
      input.addEventListener("change", () => {
        const chosen = [...input.files];
        input.value = "";
        if (request) for (const file of chosen) upload(request.id, file);
      });

      /** Decimal units as attachments.js shows them ("12 kt" in Finnish). */
      function size(bytes) {
        const fi = document.documentElement.lang === "fi";
        if (bytes < 1000) return `${bytes} ${fi ? "t" : "B"}`;
        const [value, unit] = bytes < 1e6 ? [bytes / 1e3, "kB"] : [bytes / 1e6, "MB"];
        return `${new Intl.NumberFormat(fi ? "fi" : "en", { maximumFractionDigits: 1 })
          .format(value)} ${fi ? unit.replace("B", "t") : unit}`;
      }

      async function loadLimits() {
        if (limits) return limits;
        try {
          limits = (await api("GET", "/api/v1/attachment-limits")).data;
        } catch (_) { /* shown without limits; the hub still refuses with a reason */ }
        if (request) render();
        return limits;
      }

      async function upload(id, file) {
        const draft = draftOf(id);
        const known = await loadLimits();
        let local = null;
        if (known && file.size > known.max_bytes) {
          local = { local: "attach_error_size", values: { name: file.name,
            size: size(known.max_bytes) } };
        } else if (known && draft.files.length + draft.uploading.length >= known.max_files) {
          local = { local: "attach_error_many", values: { count: known.max_files } };
        }
        if (local) {
          draft.error = local;
          render();
          return;
        }
        draft.uploading.push(file.name);
        draft.error = null;
        render();
        const form = new FormData();
        form.append("file", file, file.name);
        try {
          const response = await fetch(
            `/api/v1/requests/${encodeURIComponent(id)}/attachments`,
            { method: "POST", credentials: "same-origin", body: form,
              headers: { Accept: "application/json" } });
          let body = null;
          try { body = await response.json(); } catch (_) { body = null; }
          if (response.ok) draft.files.push(body);
          else draft.error = { status: response.status, body, attach: true };
        } catch (_) {
          draft.error = { status: 0, body: null, attach: true };
        } finally {
          draft.uploading.splice(draft.uploading.indexOf(file.name), 1);
          if (request && request.id === id) render();
        }
      }

      function chip(draft, file) {
        const remove = Object.assign(document.createElement("button"), {
          type: "button", className: "composer-file-remove", textContent: "×" });
        remove.dataset.testid = "composer-file-remove";
        remove.setAttribute("aria-label", t("attach_remove", { name: file.name }));
        remove.addEventListener("click", () => {
          draft.files = draft.files.filter((f) => f !== file);
          render();
          button.focus();
        });
        const name = Object.assign(document.createElement("bdi"), {
          className: "attachment-name", textContent: file.name });
        const meta = Object.assign(document.createElement("span"), {
          className: "attachment-meta", textContent: size(file.size) });
        const item = Object.assign(document.createElement("li"), {
          className: "attachment composer-file" });
        item.dataset.testid = "composer-file-chip";
        item.append(name, " ", meta, remove);
        return item;
      }

      function renderFiles(draft, shown) {
        field.hidden = !shown;
        if (!shown) return;
        if (!limits) loadLimits();
        button.textContent = t("attach_file");
        button.disabled = draft.sending;
        note.textContent = [
          limits ? t("attach_limits", { size: size(limits.max_bytes),
            types: limits.types.map((type) => TYPE_NAMES[type] || type).join(", ") }) : "",
          ...draft.uploading.map((name) => t("attach_uploading", { name })),
        ].filter(Boolean).join(" · ");
        if (limits) input.accept = limits.types.join(",");
        chips.setAttribute("aria-label", t("attach_files"));
        chips.replaceChildren(...draft.files.map((file) => chip(draft, file)));
      }

      return { render: renderFiles };
    }

    return { show, render, forget };
  }

  globalThis.TaxiConnect = Object.assign(globalThis.TaxiConnect || {}, { createComposer });
})();
