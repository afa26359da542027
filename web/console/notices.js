/* Service notices in the console (dispatch/notices_api.py): a banner under the header for each
 * notice in force, stacked, newest first, with its text in the console's language, its
 * channels and lanes, until when, and "Calls: announcement only" when the phone answers with
 * it and hangs up; "End" on a banner ends it after a confirmation. The "Notice" button in the
 * header opens a dialog to publish one (Finnish and English text, channels, lanes, from and
 * until, announcement-only for the phone) and lists the last 50.
 *
 * console.js calls `load()` on every hello (what was published while away), hands over each
 * `notice.published` / `notice.ended` event through `apply(event)`, and `stop()` at logout.
 * External users never see any of it: the hub answers them 403 and sends them no such event.
 * Notice texts reach the page only as textContent.
 */
"use strict";

(() => {
  const CHANNELS = ["phone", "sms", "email", "chat", "webform"];
  const MAX_TEXT = 1000; // dispatch/notices_api.py MAX_TEXT_CHARS
  const MAX_DAYS = 31; // dispatch/notices_api.py MAX_DURATION
  const HISTORY = 50; // dispatch/notices_api.py HISTORY_LIMIT
  const DEFAULT_HOURS = 4; // the end time offered: a disruption's worst, not a whole day
  // A start this close to now is sent as "now", so the hub's clock starts it, not this one.
  const NOW_SLACK_MS = 60000;
  const TICK_MS = 5000; // scheduled notices come into force, expired ones go, this often
  const LOCALES = { fi: "fi-FI", en: "en-GB" };
  const SVG_NS = "http://www.w3.org/2000/svg";
  const ICON = "M3 10v4h3l6 4V6L6 10zM16 8.5a5 5 0 0 1 0 7M19 6a9 9 0 0 1 0 12"; // a loudspeaker

  function icon() {
    const svg = document.createElementNS(SVG_NS, "svg");
    for (const [name, value] of [["viewBox", "0 0 24 24"], ["aria-hidden", "true"],
      ["focusable", "false"], ["class", "icon notice-icon"]]) svg.setAttribute(name, value);
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", ICON);
    svg.append(path);
    return svg;
  }

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  /** A time as a datetime-local input shows it, in this browser's zone. */
  function localInput(ms) {
    const at = new Date(ms);
    return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}`
      + `T${pad(at.getHours())}:${pad(at.getMinutes())}`;
  }

  /** deps: console.js's t, api, el, announce and now (the hub's clock, corrected),
   * and me() -> the signed-in agent. */
  function createNotices({ t, api, el, me, announce, now }) {
    document.head.append(el("link", { rel: "stylesheet", href: "/static/console/notices.css" }));
    const state = {
      notices: new Map(), // id -> a notice neither ended nor over: in force, or scheduled
      ended: new Set(), // ids heard ended: a load answered before the event cannot revive one
      heard: null, // id -> notice from events that came while a load was under way
      history: [], // newest first, as the hub lists them
      lanes: [], // the console's lanes (GET /api/v1/lanes), for names and the dialog's choices
      lanesAsked: new Set(), // lane keys a notice named that the list lacked: fetched once
      confirming: null, // the notice whose End asks "are you sure?"
      errors: new Map(), // notice id -> why ending it failed
      shown: "", // the ids of the banners on screen, so a tick redraws only on a change
      timesTouched: false, // the dispatcher chose the times: a reopened dialog keeps them
      busy: false,
      loadSeq: 0,
    };

    const allowed = () => Boolean(me()) && me().role !== "external";
    const language = () => (document.documentElement.lang === "en" ? "en" : "fi");
    const at = (iso) => Date.parse(iso || "");
    const over = (n, ms) => Boolean(n.ended_at) || (n.valid_until && at(n.valid_until) <= ms);
    const inForce = (n, ms) => !over(n, ms) && at(n.valid_from) <= ms;

    // ---- the parts on the page, made once --------------------------------------------------

    const bar = el("section", { className: "notice-bar", id: "notice-bar", hidden: true,
      "data-testid": "notice-bar", "data-i18n-label": "notice_bar" }); // announce() reads news
    document.querySelector(".topbar")?.after(bar);

    // On a laptop's header the word hides (visually only): the loudspeaker stays.
    const openButton = el("button", { type: "button", className: "quiet icon-button notice-open",
      id: "notice-open", hidden: true, "aria-haspopup": "dialog", "data-testid": "notice-open",
      "data-i18n-title": "notice_open_title" }, icon(),
    el("span", { className: "notice-open-label", "data-i18n": "notice_open" }, t("notice_open")));
    document.querySelector(".topbar-end")?.prepend(openButton);

    const field = (id, key, control, ...after) => el("div", { className: "field" },
      el("label", { for: id, "data-i18n": key }, t(key)), control, ...after);
    const textArea = (lang) => el("textarea", { id: `notice-text-${lang}`, lang, rows: 3,
      maxlength: MAX_TEXT, "aria-describedby": `notice-count-${lang}`,
      "data-testid": `notice-text-${lang}` });
    const counter = (lang) => el("p", { className: "notice-count", id: `notice-count-${lang}`,
      "data-testid": `notice-count-${lang}` });
    const ui = {
      textFi: textArea("fi"), textEn: textArea("en"), textSv: textArea("sv"),
      countFi: counter("fi"), countEn: counter("en"), countSv: counter("sv"),
      channels: new Map(CHANNELS.map((channel) => [channel, el("input", { type: "checkbox",
        value: channel, checked: true, "data-testid": `notice-channel-${channel}` })])),
      lanes: el("div", { className: "notice-checks", "data-testid": "notice-lanes" }),
      from: el("input", { type: "datetime-local", id: "notice-from",
        "data-testid": "notice-from" }),
      until: el("input", { type: "datetime-local", id: "notice-until",
        "data-testid": "notice-until" }),
      announcement: el("input", { type: "checkbox", id: "notice-announcement",
        "aria-describedby": "notice-announcement-warning",
        "data-testid": "notice-announcement-only" }),
      warning: el("p", { className: "notice-warning", id: "notice-announcement-warning",
        role: "status", "data-testid": "notice-announcement-warning" }),
      error: el("p", { className: "action-error", role: "alert", "data-testid": "notice-error" }),
      history: el("ol", { className: "notice-history", "data-testid": "notice-history" }),
      historyEmpty: el("p", { className: "muted", "data-testid": "notice-history-empty",
        "data-i18n": "notice_history_empty" }, t("notice_history_empty")),
    };
    const tabs = new Map(["publish", "history"].map((name) => [name, el("button", {
      type: "button", role: "tab", className: "notice-tab", id: `notice-tab-${name}`,
      "aria-controls": `notice-panel-${name}`, "data-testid": `notice-tab-${name}`,
      "data-i18n": `notice_tab_${name}` }, t(`notice_tab_${name}`))]));
    const form = el("form", { className: "notice-form", id: "notice-panel-publish",
      role: "tabpanel", "aria-labelledby": "notice-tab-publish", novalidate: true,
      "data-testid": "notice-form" },
    field("notice-text-fi", "notice_text_fi", ui.textFi, ui.countFi),
    field("notice-text-en", "notice_text_en", ui.textEn, ui.countEn),
    field("notice-text-sv", "notice_text_sv", ui.textSv, ui.countSv),
    el("fieldset", { className: "notice-fieldset" },
      el("legend", { "data-i18n": "notice_channels" }, t("notice_channels")),
      el("div", { className: "notice-checks" }, [...ui.channels].map(([channel, box]) =>
        el("label", { className: "check" }, box, " ",
          el("span", { "data-i18n": `channel_${channel}` }, t(`channel_${channel}`)))))),
    el("fieldset", { className: "notice-fieldset" },
      el("legend", { "data-i18n": "notice_lanes_legend" }, t("notice_lanes_legend")),
      el("p", { className: "muted", "data-i18n": "notice_lanes_help" },
        t("notice_lanes_help")),
      ui.lanes),
    el("div", { className: "notice-times" },
      field("notice-from", "notice_from", ui.from),
      field("notice-until", "notice_until_label", ui.until),
      el("p", { className: "muted", "data-i18n": "notice_times_help" },
        t("notice_times_help"))),
    el("div", { className: "notice-announcement" },
      el("label", { className: "check", for: "notice-announcement" }, ui.announcement, " ",
        el("span", { "data-i18n": "notice_announcement" }, t("notice_announcement"))),
      ui.warning),
    el("div", { className: "notice-footer" }, ui.error,
      el("div", { className: "row end" },
        el("button", { type: "button", className: "quiet", "data-testid": "notice-cancel",
          "data-i18n": "notice_cancel" }, t("notice_cancel")),
        el("button", { type: "submit", className: "primary", "data-testid": "notice-publish",
          "data-i18n": "notice_publish" }, t("notice_publish")))));
    const historyPanel = el("section", { className: "notice-history-panel", hidden: true,
      id: "notice-panel-history", role: "tabpanel", "aria-labelledby": "notice-tab-history" },
    el("p", { className: "muted", "data-i18n": "notice_history_help" },
      t("notice_history_help")),
    ui.history, ui.historyEmpty);
    const dialog = el("dialog", { className: "notice-dialog", id: "notice-dialog",
      "aria-labelledby": "notice-dialog-title", "data-testid": "notice-dialog" },
    el("div", { className: "notice-dialog-head" },
      el("h2", { id: "notice-dialog-title", "data-i18n": "notice_dialog_title" },
        t("notice_dialog_title")),
      el("div", { className: "notice-tabs", role: "tablist" }, [...tabs.values()]),
      el("button", { type: "button", className: "quiet notice-close",
        "data-testid": "notice-close", "data-i18n-label": "notice_close",
        "aria-label": t("notice_close") }, "×")),
    form, historyPanel);
    document.body.append(dialog);

    // ---- loading and live events -----------------------------------------------------------

    async function loadLanes() {
      try {
        const { data } = await api("GET", "/api/v1/lanes");
        state.lanes = (data?.lanes || []).filter((lane) => lane && typeof lane.key === "string");
      } catch (_) { /* the keys stand in for names */ }
    }

    /** The notices in force and scheduled, and the history: on connect and reconnect. */
    async function load() {
      if (!allowed()) return;
      openButton.hidden = false;
      const seq = ++state.loadSeq;
      const heard = new Map();
      state.heard = heard;
      try {
        const [{ data }] = await Promise.all([api("GET", "/api/v1/notices"), loadLanes()]);
        if (seq !== state.loadSeq || !allowed()) return;
        state.notices.clear();
        for (const notice of [...(data.active || []), ...(data.scheduled || [])]) {
          if (!state.ended.has(notice.id)) state.notices.set(notice.id, notice);
        }
        state.history = Array.isArray(data.history) ? data.history : [];
        for (const notice of heard.values()) remember(notice);
        render();
      } catch (_) {
        /* 403 or unreachable: the next hello tries again; events still arrive */
      } finally {
        if (state.heard === heard) state.heard = null;
      }
    }

    /** A notice as last heard: in the banners (unless over) and in the history. */
    function remember(notice) {
      if (notice.ended_at) {
        state.ended.add(notice.id);
        state.notices.delete(notice.id);
      } else if (!state.ended.has(notice.id)) {
        state.notices.set(notice.id, notice);
      }
      const index = state.history.findIndex((found) => found.id === notice.id);
      if (index >= 0) state.history[index] = notice;
      else state.history = [notice, ...state.history].slice(0, HISTORY);
    }

    /** console.js hands over every event; true for the ones that are this module's. */
    function apply(event) {
      if (typeof event.type !== "string" || !event.type.startsWith("notice.")) return false;
      const notice = event.notice;
      if (!allowed() || !notice || typeof notice.id !== "string") return true;
      state.heard?.set(notice.id, notice);
      const known = state.notices.has(notice.id);
      remember(notice);
      render();
      const unknown = (notice.lanes || []).filter((key) => !state.lanesAsked.has(key)
        && !state.lanes.some((lane) => lane.key === key));
      if (unknown.length) { // a lane added since this console loaded them: its name
        for (const key of unknown) state.lanesAsked.add(key);
        loadLanes().then(render);
      }
      const text = textOf(notice);
      const mine = event.by?.id === me().id;
      if (event.type === "notice.published" && !known && !mine) {
        announce(t("notice_heard_published", { name: event.by?.name || "", text }));
      } else if (event.type === "notice.ended" && known && !mine) {
        announce(t("notice_heard_ended", { text }));
      }
      return true;
    }

    function stop() {
      state.loadSeq += 1;
      state.notices.clear();
      state.ended.clear();
      state.history = [];
      state.confirming = null;
      state.errors.clear();
      state.timesTouched = false;
      if (dialog.open) dialog.close();
      resetForm();
      openButton.hidden = true;
      render();
    }

    // ---- the banners -----------------------------------------------------------------------

    function textOf(notice) {
      return notice.text?.[language()] || notice.text?.fi || notice.text?.en || "";
    }

    function laneName(key) {
      const lane = state.lanes.find((found) => found.key === key);
      const name = lane?.name && typeof lane.name === "object"
        ? lane.name[language()] || lane.name.fi || lane.name.en : null;
      return name ? String(name) : key;
    }

    function clock(iso) {
      const when = new Date(iso);
      const today = when.toDateString() === new Date(now()).toDateString();
      const options = today ? { hour: "2-digit", minute: "2-digit" }
        : { day: "numeric", month: "numeric", hour: "2-digit", minute: "2-digit" };
      return { text: new Intl.DateTimeFormat(LOCALES[language()], options).format(when), today };
    }

    function untilText(notice) {
      if (!notice.valid_until) return t("notice_until_ended");
      const { text, today } = clock(notice.valid_until);
      return t(today ? "notice_until_today" : "notice_until", { time: text });
    }

    function channelsText(notice) {
      const chosen = new Set(notice.channels || []); // the hub sorts them by name
      return CHANNELS.filter((channel) => chosen.has(channel))
        .map((channel) => t(`channel_${channel}`)).join(", ");
    }

    function lanesText(notice) {
      const lanes = notice.lanes || [];
      return lanes.length ? t("notice_lanes", { lanes: lanes.map(laneName).join(", ") })
        : t("notice_all_lanes");
    }

    function render() {
      renderBanners();
      if (dialog.open) renderHistory();
    }

    function renderBanners() {
      const ms = now();
      const shown = allowed() ? [...state.notices.values()].filter((n) => inForce(n, ms))
        .sort((a, b) => at(b.valid_from) - at(a.valid_from)) : [];
      if (state.confirming && !shown.some((n) => n.id === state.confirming)) {
        state.confirming = null;
      }
      const hadFocus = bar.contains(document.activeElement);
      bar.replaceChildren(...shown.map(banner));
      bar.hidden = shown.length === 0;
      state.shown = shown.map((n) => n.id).join(" ");
      if (hadFocus && !bar.contains(document.activeElement) && !openButton.hidden) {
        openButton.focus(); // the banner that had focus has gone
      }
    }

    function banner(notice) {
      const only = notice.announcement_only === true;
      const meta = [channelsText(notice), lanesText(notice), untilText(notice)].join(" · ");
      const error = state.errors.get(notice.id);
      return el("article", { className: `notice-banner${only ? " announcement-only" : ""}`,
        "data-testid": "notice-banner", "data-notice-id": notice.id,
        "data-announcement-only": String(only) },
      icon(),
      el("div", { className: "notice-body" },
        el("p", { className: "notice-head" },
          el("strong", {}, t("notice_label")),
          only ? el("span", { className: "notice-only", "data-testid": "notice-only" },
            t("notice_only")) : null),
        el("p", { className: "notice-text", lang: language(), "data-testid": "notice-text" },
          textOf(notice)),
        el("p", { className: "notice-meta", "data-testid": "notice-meta" }, meta),
        error ? el("p", { className: "action-error", role: "alert",
          "data-testid": "notice-end-error" }, error) : null),
      endControls(notice));
    }

    function endControls(notice) {
      const button = (key, testid, className, onClick) => {
        const made = el("button", { type: "button", className, "data-testid": testid },
          t(key));
        made.addEventListener("click", onClick);
        return made;
      };
      if (state.confirming !== notice.id) {
        return el("div", { className: "notice-actions" },
          button("notice_end", "notice-end", "", () => {
            state.confirming = notice.id;
            state.errors.delete(notice.id);
            render();
            bar.querySelector('[data-testid="notice-end-yes"]')?.focus();
          }));
      }
      return el("div", { className: "notice-actions confirming" },
        el("span", { className: "notice-confirm" }, t("notice_end_confirm")),
        button("notice_end_yes", "notice-end-yes", "danger", () => end(notice)),
        button("notice_end_no", "notice-end-no", "quiet", () => {
          state.confirming = null;
          render();
        }));
    }

    async function end(notice) {
      if (state.busy) return;
      state.busy = true;
      try {
        const { data } = await api("POST",
          `/api/v1/notices/${encodeURIComponent(notice.id)}/end`);
        remember(data.notice);
        announce(t("notice_ended_done"));
      } catch (err) {
        if (err.status === 401) return;
        if (err.status === 409 || err.status === 404) {
          remember({ ...notice, ended_at: notice.ended_at || new Date(now()).toISOString() });
        } else {
          state.errors.set(notice.id, t("notice_end_failed", { reason: err.message }));
        }
      } finally {
        state.busy = false;
        state.confirming = null;
        render();
      }
    }

    // ---- the dialog: publish ---------------------------------------------------------------

    function renderCounts() {
      const count = window.TaxiConnect.countSegments;
      for (const [area, box] of [[ui.textFi, ui.countFi], [ui.textEn, ui.countEn],
        [ui.textSv, ui.countSv]]) {
        const text = area.value.trim();
        const parts = [t("notice_count", { n: [...text].length, max: MAX_TEXT })];
        const sms = count && text && ui.channels.get("sms").checked ? count(text).count : 0;
        if (sms) parts.push(t("notice_sms", { count: sms }));
        box.textContent = parts.join(" · ");
      }
    }

    function renderLanes() {
      const chosen = new Set([...ui.lanes.querySelectorAll("input:checked")]
        .map((box) => box.value));
      ui.lanes.replaceChildren(...state.lanes.map((lane) => el("label", { className: "check" },
        el("input", { type: "checkbox", value: lane.key, checked: chosen.has(lane.key),
          "data-testid": `notice-lane-${lane.key}` }), " ", laneName(lane.key))));
    }

    function renderAnnouncement() {
      const phone = ui.channels.get("phone").checked;
      if (!phone) ui.announcement.checked = false;
      ui.announcement.disabled = !phone;
      ui.warning.textContent = !phone ? t("notice_announcement_needs_phone")
        : ui.announcement.checked ? t("notice_announcement_warning") : "";
      ui.warning.classList.toggle("alert", ui.announcement.checked);
    }

    /** Empty texts, every channel, no lane, no announcement-only; times offered afresh. */
    function resetForm() {
      form.reset();
      ui.lanes.replaceChildren();
      state.timesTouched = false;
    }

    function setDefaultTimes() {
      const start = now();
      ui.from.value = localInput(start);
      ui.until.value = localInput(start + DEFAULT_HOURS * 3600 * 1000);
      state.timesTouched = false;
    }

    function showTab(name) {
      for (const [tab, button] of tabs) button.setAttribute("aria-selected", String(tab === name));
      form.hidden = name !== "publish";
      historyPanel.hidden = name !== "history";
      if (name === "history") renderHistory();
    }

    async function openDialog(tab = "publish") {
      if (!allowed()) return;
      if (!state.timesTouched) setDefaultTimes();
      ui.error.textContent = "";
      renderLanes();
      renderCounts();
      renderAnnouncement();
      showTab(tab);
      if (!dialog.open) dialog.showModal();
      (tab === "publish" ? ui.textFi : tabs.get(tab)).focus();
      await load(); // fresh lanes and history; what was chosen stays chosen
      if (dialog.open) {
        renderLanes();
        renderHistory();
      }
    }

    function fail(message, focus) {
      ui.error.textContent = message;
      focus?.focus();
    }

    async function onSubmit(event) {
      event.preventDefault();
      if (state.busy) return;
      const body = {
        text_fi: ui.textFi.value.trim(), text_en: ui.textEn.value.trim(),
        text_sv: ui.textSv.value.trim() || null,
        channels: CHANNELS.filter((channel) => ui.channels.get(channel).checked),
        lanes: [...ui.lanes.querySelectorAll("input:checked")].map((box) => box.value),
        announcement_only: ui.announcement.checked && ui.channels.get("phone").checked,
      };
      if (!body.text_fi || !body.text_en) {
        fail(t("notice_need_texts"), body.text_fi ? ui.textEn : ui.textFi);
        return;
      }
      if (!body.channels.length) {
        fail(t("notice_need_channel"), ui.channels.get("phone"));
        return;
      }
      if (!state.timesTouched) setDefaultTimes(); // "now" and "in four hours" mean from now
      const from = Date.parse(ui.from.value);
      const until = ui.until.value ? Date.parse(ui.until.value) : null;
      if (Number.isNaN(from)) {
        fail(t("notice_bad_from"), ui.from);
        return;
      }
      if (until !== null && (Number.isNaN(until) || until <= Math.max(from, now()))) {
        fail(t("notice_bad_until"), ui.until);
        return;
      }
      if (until !== null && until - from > MAX_DAYS * 86400 * 1000) {
        fail(t("notice_too_long"), ui.until);
        return;
      }
      if (from > now() + NOW_SLACK_MS) body.valid_from = new Date(from).toISOString();
      body.valid_until = until === null ? null : new Date(until).toISOString();
      state.busy = true;
      ui.error.textContent = "";
      try {
        const { data } = await api("POST", "/api/v1/notices", body);
        remember(data.notice);
        resetForm();
        dialog.close();
        render();
        announce(t("notice_published_done"));
      } catch (err) {
        if (err.status !== 401) fail(t("notice_failed", { reason: err.message }));
      } finally {
        state.busy = false;
      }
    }

    // ---- the dialog: history ---------------------------------------------------------------

    function stateOf(notice, ms) {
      if (notice.ended_at) return "ended";
      if (over(notice, ms)) return "expired";
      return at(notice.valid_from) > ms ? "scheduled" : "active";
    }

    function renderHistory() {
      const ms = now();
      ui.history.replaceChildren(...state.history.map((notice) => {
        const status = stateOf(notice, ms);
        const last = notice.ended_at || notice.valid_until;
        const span = last ? t("notice_span", { from: clock(notice.valid_from).text,
          until: clock(last).text }) : t("notice_span_open", { from: clock(notice.valid_from).text });
        return el("li", { className: "notice-history-item", "data-testid": "notice-history-item",
          "data-notice-id": notice.id, "data-state": status },
        el("p", { className: "notice-history-head" },
          el("span", { className: "notice-state", "data-testid": "notice-history-state" },
            t(`notice_state_${status}`)),
          el("span", {}, [span, channelsText(notice), lanesText(notice)].join(" · ")),
          notice.announcement_only ? el("span", { className: "notice-only" }, t("notice_only"))
            : null),
        el("p", { className: "notice-history-text", lang: language(),
          "data-testid": "notice-history-text" }, textOf(notice)));
      }));
      ui.historyEmpty.hidden = state.history.length > 0;
    }

    // ---- wiring ----------------------------------------------------------------------------

    openButton.addEventListener("click", () => openDialog());
    for (const [name, button] of tabs) button.addEventListener("click", () => showTab(name));
    dialog.querySelector(".notice-close").addEventListener("click", () => dialog.close());
    form.querySelector('[data-testid="notice-cancel"]').addEventListener("click",
      () => dialog.close());
    form.addEventListener("submit", onSubmit);
    form.addEventListener("input", (event) => {
      if (event.target === ui.from || event.target === ui.until) state.timesTouched = true;
      renderCounts();
    });
    form.addEventListener("change", (event) => {
      renderAnnouncement();
      renderCounts();
      if (event.target === ui.announcement && ui.announcement.checked) {
        ui.warning.scrollIntoView({ block: "nearest" }); // what it costs, not under the fold
      }
    });
    // Keys typed in the dialog are its own: the queue's shortcuts and Esc-closes-the-request
    // listen on the document. Ctrl+Enter publishes, as it sends in the composer.
    dialog.addEventListener("keydown", (event) => {
      event.stopPropagation();
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !form.hidden) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    // The console's language is the page's: redraw the parts not marked data-i18n.
    new MutationObserver(() => {
      renderBanners();
      if (dialog.open) {
        renderLanes();
        renderCounts();
        renderAnnouncement();
        renderHistory();
      }
    }).observe(document.documentElement, { attributes: true, attributeFilter: ["lang"] });
    window.setInterval(() => {
      const ms = now();
      for (const [id, notice] of state.notices) if (over(notice, ms)) state.notices.delete(id);
      const due = [...state.notices.values()].filter((n) => inForce(n, ms))
        .sort((a, b) => at(b.valid_from) - at(a.valid_from)).map((n) => n.id).join(" ");
      if (due !== state.shown) renderBanners();
    }, TICK_MS);

    return { load, apply, stop, open: openDialog };
  }

  window.TaxiConnect = Object.assign(window.TaxiConnect || {}, { createNotices });
})();
