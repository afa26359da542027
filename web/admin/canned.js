/* Admin page, canned replies: the list (filtered by language), one form to add a reply or edit
 * one, delete with a confirmation, and a preview of the text as a passenger would read it.
 * Placeholders the hub does not know are pointed out before saving; the hub refuses them too.
 * Registered for admin.js, which shows it under its tab.
 */
"use strict";

(() => {
  // dispatch/canned.py: PLACEHOLDERS and NEUTRAL_NAME; the hub sends its list with the replies.
  const DEFAULT_PLACEHOLDERS = ["reference", "name", "eta", "agent"];
  const PLACEHOLDER = /\{(\w+)\}/gu;
  const BASE = "/api/v1/admin/canned-replies";
  // The preview's sample values: what a passenger could read, the same in every language.
  const SAMPLE_NAME = "Aino Virtanen";
  const SAMPLE_ETA = "10 min";

  function createCanned({ t, api, el, $, me, lang }) {
    const state = { replies: [], lanes: [], placeholders: DEFAULT_PLACEHOLDERS, filter: "",
      editing: null, confirming: null };

    function say(text, kind = "ok") {
      const status = $("canned-status");
      status.dataset.kind = kind;
      status.textContent = text;
    }

    function failed(err) {
      if (err.status === 401) return "";
      return t("failed", { reason: err.message });
    }

    async function activate() {
      try {
        const [{ canned_replies: replies, placeholders }, lanes] = await Promise.all([
          api("GET", BASE), api("GET", "/api/v1/admin/lanes").catch(() => ({ lanes: [] }))]);
        state.replies = replies;
        state.placeholders = placeholders || DEFAULT_PLACEHOLDERS;
        state.lanes = lanes.lanes || [];
      } catch (err) {
        say(failed(err), "error");
      }
      render();
    }

    function laneName(key) {
      if (!key) return t("every_lane");
      const lane = state.lanes.find((l) => l.key === key);
      return lane ? (lang() === "fi" ? lane.name_fi : lane.name_en) || key : key;
    }

    function when(iso) {
      const at = new Date(iso);
      return Number.isNaN(at.getTime()) ? "" : new Intl.DateTimeFormat(
        lang() === "fi" ? "fi-FI" : "en-GB", { dateStyle: "short", timeStyle: "short" })
        .format(at);
    }

    function render() {
      renderFilters();
      renderList();
      renderForm();
    }

    function renderFilters() {
      for (const button of document.querySelectorAll("[data-canned-language]")) {
        button.setAttribute("aria-pressed", String(button.dataset.cannedLanguage
          === state.filter));
      }
    }

    function renderList() {
      const shown = state.replies.filter((r) => !state.filter || r.language === state.filter);
      $("canned-rows").replaceChildren(...shown.map(row));
      const empty = $("canned-empty");
      empty.hidden = shown.length > 0;
      empty.textContent = t(state.replies.length ? "canned_empty_filter" : "canned_empty");
    }

    function row(reply) {
      const tr = el("tr", { testid: "canned-row" });
      tr.dataset.id = reply.id;
      tr.dataset.title = reply.title;
      const badge = el("span", { className: "lang-badge", text: reply.language.toUpperCase(),
        translate: "no",
        title: t(`language_${reply.language}`), testid: "canned-row-language" });
      badge.dataset.language = reply.language;
      const edit = el("button", { type: "button", text: t("canned_edit"),
        testid: "canned-edit" });
      edit.addEventListener("click", () => startEdit(reply));
      const actions = el("td", { className: "actions-cell" }, [edit]);
      if (state.confirming === reply.id) {
        const yes = el("button", { type: "button", className: "danger", text: t("canned_yes"),
          testid: "canned-confirm-delete" });
        yes.addEventListener("click", () => remove(reply));
        const no = el("button", { type: "button", className: "quiet", text: t("cancel") });
        no.addEventListener("click", () => {
          state.confirming = null;
          renderList();
        });
        actions.append(el("span", { className: "confirm", text: t("canned_confirm") }), yes, no);
      } else {
        const del = el("button", { type: "button", text: t("canned_delete"),
          testid: "canned-delete" });
        del.addEventListener("click", () => {
          state.confirming = reply.id;
          renderList();
        });
        actions.append(del);
      }
      const updated = el("td", { className: "nowrap" }, [when(reply.updated_at)]);
      if (reply.updated_by) updated.append(el("br"), el("span", { className: "muted",
        text: reply.updated_by.name, "data-user-text": "" }));
      tr.append(
        el("td", {}, [badge]),
        el("td", { className: "login", text: reply.title, "data-user-text": "" }),
        el("td", { className: "canned-text", text: reply.body, "data-user-text": "" }),
        el("td", { text: laneName(reply.lane) }),
        el("td", { className: "number", text: String(reply.position) }),
        updated, actions);
      return tr;
    }

    // ---- the form ----------------------------------------------------------------------------

    function renderForm() {
      const editing = state.replies.find((r) => r.id === state.editing) || null;
      $("canned-form-heading").textContent = editing
        ? t("canned_edit_title", { title: editing.title }) : t("canned_add_title");
      $("canned-submit").textContent = t(editing ? "canned_save" : "canned_add");
      $("canned-cancel").hidden = !editing;
      const lane = $("canned-lane");
      const chosen = lane.value;
      lane.replaceChildren(el("option", { value: "", text: t("every_lane") }),
        ...state.lanes.map((l) => el("option", { value: l.key, text: laneName(l.key) })));
      lane.value = [...lane.options].some((o) => o.value === chosen) ? chosen : "";
      $("canned-placeholder-buttons").replaceChildren(...state.placeholders.map((name) => {
        const button = el("button", { type: "button", className: "placeholder",
          text: `{${name}}`, title: t(`placeholder_${name}`), testid: `placeholder-${name}`,
          translate: "no" });
        button.addEventListener("click", () => insertPlaceholder(name));
        return el("span", { className: "placeholder-item" }, [button,
          el("span", { className: "muted", text: t(`placeholder_${name}`) })]);
      }));
      preview();
    }

    function unknownIn(text) {
      const names = [...text.matchAll(PLACEHOLDER)].map((m) => m[1]);
      return [...new Set(names)].filter((name) => !state.placeholders.includes(name));
    }

    /** The text as a passenger would read it, with sample values; unknown placeholders are
     * named under it at once. */
    function preview() {
      const text = $("canned-body").value.trim();
      const language = $("canned-language").value;
      const values = {
        reference: "12345",
        name: SAMPLE_NAME,
        eta: SAMPLE_ETA,
        agent: me()?.name || "",
      };
      $("canned-preview").textContent = text.replace(PLACEHOLDER,
        (whole, name) => values[name] ?? whole);
      const unknown = unknownIn(text);
      $("canned-error").textContent = unknown.length
        ? t("canned_unknown", { names: unknown.map((n) => `{${n}}`).join(", ") }) : "";
    }

    function insertPlaceholder(name) {
      const body = $("canned-body");
      const text = `{${name}}`;
      const start = body.selectionStart ?? body.value.length;
      const end = body.selectionEnd ?? start;
      body.value = body.value.slice(0, start) + text + body.value.slice(end);
      body.focus();
      body.setSelectionRange(start + text.length, start + text.length);
      preview();
    }

    function startEdit(reply) {
      state.editing = reply.id;
      $("canned-title").value = reply.title;
      $("canned-language").value = reply.language;
      $("canned-body").value = reply.body;
      $("canned-position").value = String(reply.position);
      renderForm();
      $("canned-lane").value = reply.lane || "";
      $("canned-title").focus();
    }

    function resetForm() {
      state.editing = null;
      $("canned-form").reset();
      $("canned-language").value = lang();
      renderForm();
    }

    async function onSubmit(event) {
      event.preventDefault();
      const body = {
        title: $("canned-title").value.trim(),
        language: $("canned-language").value,
        body: $("canned-body").value.trim(),
        lane: $("canned-lane").value || null,
      };
      const position = $("canned-position").value.trim();
      if (position !== "") body.position = Number(position);
      if (!body.title || !body.body) {
        $("canned-error").textContent = t("canned_required");
        return;
      }
      const unknown = unknownIn(body.body);
      if (unknown.length) {
        $("canned-error").textContent = t("canned_unknown",
          { names: unknown.map((n) => `{${n}}`).join(", ") });
        $("canned-body").focus();
        return;
      }
      const editing = state.editing;
      try {
        const { canned_reply: saved } = editing
          ? await api("PUT", `${BASE}/${encodeURIComponent(editing)}`, body)
          : await api("POST", BASE, body);
        state.replies = [...state.replies.filter((r) => r.id !== saved.id), saved]
          .sort((a, b) => a.position - b.position || a.title.localeCompare(b.title));
        resetForm();
        renderList();
        say(t(editing ? "canned_done_save" : "canned_done_add", { title: saved.title }));
      } catch (err) {
        $("canned-error").textContent = failed(err);
      }
    }

    async function remove(reply) {
      try {
        await api("DELETE", `${BASE}/${encodeURIComponent(reply.id)}`);
        state.replies = state.replies.filter((r) => r.id !== reply.id);
        if (state.editing === reply.id) resetForm();
        say(t("canned_done_delete", { title: reply.title }));
      } catch (err) {
        say(failed(err), "error");
      }
      state.confirming = null;
      renderList();
    }

    $("canned-form").addEventListener("submit", onSubmit);
    $("canned-cancel").addEventListener("click", resetForm);
    $("canned-body").addEventListener("input", preview);
    $("canned-language").addEventListener("change", preview);
    for (const button of document.querySelectorAll("[data-canned-language]")) {
      button.addEventListener("click", () => {
        state.filter = button.dataset.cannedLanguage;
        renderFilters();
        renderList();
      });
    }

    return { activate, render };
  }

  const admin = globalThis.TaxiAdmin || (globalThis.TaxiAdmin = { sections: {} });
  admin.sections.canned = createCanned;
})();
