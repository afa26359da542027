/* Canned replies in the reply composer: a picker opened by its button, or by "/" typed at the
 * start of an empty reply. Typing filters it; the console's own language comes first, each
 * reply wears a FI or EN badge. A reply that names {eta} asks for the ETA inline; the hub
 * fills in the request's reference and the passenger's name (POST .../render) and the text
 * goes into the composer to be edited before it is sent. Nothing is sent from here.
 *
 * composer.js makes the picker (createCannedPicker) and tells it which request is shown.
 * Texts reach the page only as textContent and values, never as markup.
 */
"use strict";

(() => {
  const ETA = /\{eta\}/;
  const MAX_ETA_CHARS = 40; // dispatch/canned.py MAX_ETA

  const words = window.TaxiConnect.words;
  const t = words.scope("canned");
  const lang = words.lang;

  function el(tag, props = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "testid") node.dataset.testid = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("aria") || key === "role") node.setAttribute(
        key.startsWith("aria") ? `aria-${key.slice(4).toLowerCase()}` : key, value);
      else node[key] = value;
    }
    node.append(...children);
    return node;
  }

  /** The picker's stylesheet, once: the console page loads only its own. */
  function addStyles() {
    if (document.getElementById("canned-styles")) return;
    document.head.append(el("link", { id: "canned-styles", rel: "stylesheet",
      href: "/static/console/canned.css" }));
  }

  /** Words all found in the title or the text, whatever the case. */
  function matches(reply, query) {
    const haystack = `${reply.title}\n${reply.body}`.toLocaleLowerCase();
    return query.toLocaleLowerCase().split(/\s+/).filter(Boolean)
      .every((word) => haystack.includes(word));
  }

  /**
   * deps: api(method, path, body) -> {data} or throws {status, body} (console.js's),
   * textarea (the composer's), current() -> the request shown (or null).
   */
  function createCannedPicker({ api, textarea, current }) {
    addStyles();
    const form = textarea.closest("form");
    const button = el("button", { type: "button", className: "canned-button",
      testid: "canned-open", ariaHaspopup: "listbox", ariaExpanded: "false",
      ariaControls: "canned-picker" });
    const search = el("input", { id: "canned-search", type: "search", autocomplete: "off",
      spellcheck: false, role: "combobox", ariaAutocomplete: "list",
      ariaControls: "canned-list", ariaExpanded: "true", testid: "canned-search" });
    const searchLabel = el("label", { htmlFor: "canned-search" });
    const close = el("button", { type: "button", className: "quiet", testid: "canned-close" });
    const list = el("ul", { id: "canned-list", className: "canned-list", role: "listbox",
      testid: "canned-list" });
    const empty = el("p", { className: "canned-empty muted", testid: "canned-empty" });
    const etaTitle = el("p", { className: "canned-eta-title" });
    const eta = el("input", { id: "canned-eta", maxLength: MAX_ETA_CHARS, autocomplete: "off",
      testid: "canned-eta" });
    const etaLabel = el("label", { htmlFor: "canned-eta" });
    const etaInsert = el("button", { type: "button", className: "primary",
      testid: "canned-eta-insert" });
    const back = el("button", { type: "button", className: "quiet", testid: "canned-back" });
    const etaStep = el("div", { className: "canned-eta", hidden: true, testid: "canned-eta-step" },
      [etaTitle, etaLabel, eta, el("div", { className: "row end" }, [back, etaInsert])]);
    const chooseStep = el("div", { className: "canned-choose" }, [
      el("div", { className: "canned-head" }, [searchLabel, search, close]), list, empty]);
    const error = el("p", { className: "action-error canned-error", role: "alert",
      testid: "canned-error" });
    const help = el("p", { className: "canned-help muted" });
    const panel = el("div", { id: "canned-picker", className: "canned", hidden: true,
      testid: "canned-picker" }, [chooseStep, etaStep, error, help]);
    const announce = el("p", { className: "visually-hidden", role: "status",
      testid: "canned-status" });

    textarea.closest(".field").before(panel, announce);
    const shortcut = form.querySelector(".shortcut");
    if (shortcut) shortcut.before(button);
    else form.append(button);

    let replies = null; // the listing for the request shown, once loaded
    let shown = []; // replies in the list, in order
    let active = 0; // index into `shown`
    let chosen = null; // the reply waiting for its ETA
    let slashOpened = false; // "/" opened it: Esc gives the "/" and the filter back
    let allowed = true; // false once the hub says this user has no canned replies (403)
    let checked = false; // asked the hub once per login whether this user has them
    let seq = 0; // answers of an older load or render are dropped
    let labelsFor = "";

    function render(sending = false) {
      if (labelsFor !== lang()) {
        labelsFor = lang();
        button.textContent = t("button");
        button.title = t("button_title");
        searchLabel.textContent = t("search");
        search.placeholder = t("search_placeholder");
        close.textContent = t("close");
        etaLabel.textContent = t("eta_label");
        etaInsert.textContent = t("eta_insert");
        back.textContent = t("back");
        help.textContent = t("help");
        if (!panel.hidden) renderList();
        if (chosen) etaTitle.textContent = chosen.title;
      }
      button.hidden = !allowed;
      button.disabled = sending || textarea.readOnly || !current();
    }

    function isOpen() {
      return !panel.hidden;
    }

    async function load(request) {
      const mine = ++seq;
      replies = null;
      renderList();
      const query = request.lane ? `?lane=${encodeURIComponent(request.lane)}` : "";
      try {
        const { data } = await api("GET", `/api/v1/canned-replies${query}`);
        if (mine !== seq) return;
        replies = data.canned_replies || [];
      } catch (err) {
        if (mine !== seq) return;
        if (err.status === 403) {
          allowed = false;
          closePicker();
          render();
          return;
        }
        replies = [];
        showError(err);
      }
      renderList();
    }

    function ordered() {
      const first = lang();
      return [...(replies || [])].sort((a, b) => (a.language !== first) - (b.language !== first)
        || a.position - b.position || a.title.localeCompare(b.title));
    }

    function renderList() {
      if (replies === null) {
        list.replaceChildren();
        empty.textContent = t("loading");
        empty.hidden = false;
        return;
      }
      const query = search.value.trim();
      shown = ordered().filter((reply) => matches(reply, query));
      active = Math.min(active, Math.max(0, shown.length - 1));
      list.replaceChildren(...shown.map(option));
      empty.hidden = shown.length > 0;
      empty.textContent = replies.length ? t("no_match", { q: query }) : t("none");
      markActive();
    }

    function option(reply, index) {
      const badge = el("span", { className: "canned-lang", text: reply.language.toUpperCase(),
        title: t(`lang_${reply.language}`), testid: "canned-language" });
      badge.dataset.language = reply.language;
      const head = el("span", { className: "canned-option-head" }, [
        badge, el("strong", { className: "canned-title", text: reply.title })]);
      if (ETA.test(reply.body)) {
        head.append(el("span", { className: "canned-needs-eta", text: t("needs_eta"),
          title: t("needs_eta_title") }));
      }
      const item = el("li", { id: `canned-option-${index}`, className: "canned-option",
        role: "option", ariaSelected: "false", testid: "canned-option" },
      [head, el("span", { className: "canned-preview", text: reply.body })]);
      item.dataset.id = reply.id;
      item.dataset.language = reply.language;
      item.addEventListener("mousedown", (event) => event.preventDefault()); // keep focus
      item.addEventListener("click", () => {
        active = index;
        pick();
      });
      return item;
    }

    function markActive() {
      list.querySelectorAll(".canned-option").forEach((item, index) => {
        const on = index === active;
        item.setAttribute("aria-selected", String(on));
        item.classList.toggle("active", on);
        if (on) item.scrollIntoView({ block: "nearest" });
      });
      if (shown.length) search.setAttribute("aria-activedescendant", `canned-option-${active}`);
      else search.removeAttribute("aria-activedescendant");
    }

    function open({ slash = false } = {}) {
      const request = current();
      if (!request || !allowed || textarea.readOnly) return;
      slashOpened = slash;
      chosen = null;
      search.value = "";
      active = 0;
      error.textContent = "";
      etaStep.hidden = true;
      chooseStep.hidden = false;
      help.hidden = false;
      panel.hidden = false;
      button.setAttribute("aria-expanded", "true");
      labelsFor = "";
      render();
      load(request);
      search.focus();
    }

    /** Close; `restore` (Esc) gives back a "/" and the filter typed after it. */
    function closePicker({ restore = false, focus = false } = {}) {
      if (panel.hidden) return;
      const typed = slashOpened && restore ? `/${search.value}` : "";
      seq += 1; // an answer still on its way is not wanted any more
      panel.hidden = true;
      chosen = null;
      slashOpened = false;
      button.setAttribute("aria-expanded", "false");
      if (typed && !textarea.value) insert(typed);
      else if (focus) textarea.focus();
    }

    function pick() {
      const reply = shown[active];
      if (!reply) return;
      error.textContent = "";
      if (!ETA.test(reply.body)) {
        renderReply(reply, {});
        return;
      }
      chosen = reply;
      etaTitle.textContent = reply.title;
      eta.value = "";
      chooseStep.hidden = true;
      etaStep.hidden = false;
      help.hidden = true; // Esc goes back, Enter inserts: the field says what it wants
      eta.focus();
    }

    function backToList() {
      chosen = null;
      error.textContent = "";
      etaStep.hidden = true;
      chooseStep.hidden = false;
      help.hidden = false;
      search.focus();
    }

    function insertWithEta() {
      const value = eta.value.trim();
      if (!value) {
        error.textContent = t("eta_required");
        eta.focus();
        return;
      }
      renderReply(chosen, { eta: value });
    }

    async function renderReply(reply, body) {
      const request = current();
      if (!request) return;
      const mine = ++seq;
      etaInsert.disabled = true;
      try {
        const { data } = await api("POST", `/api/v1/requests/${encodeURIComponent(request.id)}`
          + `/canned-replies/${encodeURIComponent(reply.id)}/render`, body);
        if (mine !== seq || current()?.id !== request.id) return;
        slashOpened = false;
        closePicker();
        insert(data.text);
        announce.textContent = t("inserted", { title: reply.title });
      } catch (err) {
        if (mine !== seq) return;
        showError(err);
      } finally {
        etaInsert.disabled = false;
      }
    }

    function showError(err) {
      if (err.status === 401) return; // the console shows its login
      const reason = err.status === 0 ? t("network") : err.status === 404 ? t("gone")
        : err.message;
      error.textContent = t("failed", { reason });
    }

    /** Put `text` where the cursor is (all of it in an empty reply) and let the composer
     * know, as if typed: its draft, counter and checks follow. */
    function insert(text) {
      const start = textarea.selectionStart ?? textarea.value.length;
      const end = textarea.selectionEnd ?? start;
      textarea.value = textarea.value.slice(0, start) + text + textarea.value.slice(end);
      const caret = start + text.length;
      textarea.focus();
      textarea.setSelectionRange(caret, caret);
      textarea.dispatchEvent(new Event("input", { bubbles: true }));
    }

    function onSearchKey(event) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (!shown.length) return;
        active = (active + (event.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length;
        markActive();
      } else if (event.key === "Enter") {
        event.preventDefault(); // not the composer form's submit
        event.stopPropagation();
        if (!event.isComposing) pick();
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        closePicker({ restore: true, focus: true });
      }
    }

    function onEtaKey(event) {
      if (event.key === "Enter") {
        event.preventDefault();
        event.stopPropagation();
        if (!event.isComposing) insertWithEta();
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        backToList();
      }
    }

    button.addEventListener("click", () => {
      if (isOpen()) closePicker({ focus: true });
      else open();
    });
    close.addEventListener("click", () => closePicker({ restore: true, focus: true }));
    back.addEventListener("click", backToList);
    etaInsert.addEventListener("click", insertWithEta);
    search.addEventListener("input", () => {
      active = 0;
      renderList();
    });
    search.addEventListener("keydown", onSearchKey);
    eta.addEventListener("keydown", onEtaKey);
    textarea.addEventListener("keydown", (event) => {
      if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey
          || event.isComposing || textarea.value !== "" || !allowed || !current()) return;
      event.preventDefault();
      open({ slash: true });
    });

    /** Which request the composer shows changed (or none): the picker belongs to the last. */
    function show() {
      closePicker();
      announce.textContent = "";
      if (!checked && current()) {
        checked = true;
        api("GET", "/api/v1/canned-replies?language=fi").catch((err) => {
          if (err.status !== 403) return;
          allowed = false; // external users answer in their own words
          render();
        });
      }
      render();
    }

    /** Logout: forget what this user may do. */
    function forget() {
      closePicker();
      allowed = true;
      checked = false;
      replies = null;
      announce.textContent = "";
    }

    return { render, show, forget, close: closePicker };
  }

  globalThis.TaxiConnect = Object.assign(globalThis.TaxiConnect || {}, { createCannedPicker });
})();
