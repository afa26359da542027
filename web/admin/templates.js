/* Admin page, automatic answers (dispatch/answer_templates_api.py): the texts the hub sends
 * on its own, the acknowledgement of a new request and the out-of-hours answer, per lane and
 * language. The list shows each kind's templates with the built-in text where an admin has
 * written none for every lane; one form adds or edits a template with placeholder buttons
 * (only those its kind fills) and a preview with sample values; delete asks first.
 * The section's markup is made here, into admin.js's empty section of the same name.
 */
"use strict";

(() => {
  const BASE = "/api/v1/admin/answer-templates";
  const KINDS = ["acknowledgement", "out_of_hours"];
  const LANGUAGES = ["fi", "sv", "en"];
  // hub/answer_templates.py FILLED and MAX_BODY; the hub sends its own with the list.
  const FILLED = { acknowledgement: ["reference", "name", "wait"],
    out_of_hours: ["reference", "name", "opens"] };
  const MAX_BODY = 1000;
  const PLACEHOLDER = /\{(\w+)\}/gu;
  const SAMPLE_REFERENCE = "12345";
  // A template's preview is in the template's language, whatever the page's: sample values
  // a passenger could see, not words of this page.
  const SAMPLES = {
    fi: { name: "Aino Virtanen", wait: "noin 5 min", opens: "ma 7.00" },
    sv: { name: "Aino Virtanen", wait: "cirka 5 min", opens: "mån 7.00" },
    en: { name: "Aino Virtanen", wait: "about 5 min", opens: "Mon 07:00" },
  };
  const HEADS = ["tpl_col_kind", "tpl_col_lane", "tpl_col_language", "tpl_col_text",
    "tpl_col_updated", "tpl_col_actions"];

  function createTemplates({ t, api, el, lang }) {
    const state = { templates: [], defaults: {}, filled: FILLED, lanes: [], filter: "",
      editing: null, confirming: null, taken: null };

    // ---- markup, into admin.js's empty section -------------------------------------------

    const section = document.querySelector('.admin-section[data-section="templates"]');
    const status = el("p", { className: "admin-status", testid: "templates-status" });
    status.setAttribute("role", "status");
    const filters = el("div", { className: "row admin-filters" },
      ["", ...KINDS].map((kind) => {
        const button = el("button", { type: "button", className: "filter",
          testid: `templates-filter-${kind || "all"}` });
        button.dataset.kind = kind;
        button.addEventListener("click", () => {
          state.filter = kind;
          renderList();
        });
        return button;
      }));
    filters.setAttribute("role", "group");
    const heads = HEADS.map(() => el("th", { scope: "col" }));
    const rows = el("tbody", { testid: "templates-rows" });
    const empty = el("p", { className: "muted", testid: "templates-empty", hidden: true });
    const formHeading = el("h2", { id: "template-form-heading",
      testid: "template-form-heading" });
    const kind = el("select", { id: "template-kind", testid: "template-kind" },
      KINDS.map((value) => el("option", { value })));
    const lane = el("select", { id: "template-lane", testid: "template-lane" });
    const language = el("select", { id: "template-language", testid: "template-language" },
      LANGUAGES.map((value) => el("option", { value })));
    const body = el("textarea", { id: "template-body", rows: 3, maxLength: MAX_BODY,
      required: true, testid: "template-body" });
    body.setAttribute("aria-describedby", "template-placeholders template-count");
    const count = el("p", { className: "muted", id: "template-count", testid: "template-count" });
    const buttons = el("span", { className: "placeholder-buttons" });
    const placeholderLabel = el("span");
    const previewLabel = el("p", { className: "preview-label" });
    const preview = el("p", { className: "canned-preview-text", testid: "template-preview" });
    const error = el("p", { className: "form-error", testid: "template-error" });
    error.setAttribute("role", "alert");
    const cancel = el("button", { type: "button", className: "quiet", hidden: true,
      testid: "template-cancel" });
    const submit = el("button", { type: "submit", className: "primary",
      testid: "template-submit" });
    const labelled = (control) => el("label", { htmlFor: control.id });
    const labels = { kind: labelled(kind), lane: labelled(lane), language: labelled(language),
      body: labelled(body) };
    const form = el("form", { className: "add-form", noValidate: true,
      testid: "template-form" }, [
      el("div", { className: "field" }, [labels.kind, kind]),
      el("div", { className: "field" }, [labels.lane, lane]),
      el("div", { className: "field" }, [labels.language, language]),
      el("div", { className: "field wide" }, [labels.body, body, count,
        el("p", { className: "placeholder-help", id: "template-placeholders" },
          [placeholderLabel, buttons])]),
      el("div", { className: "field wide" }, [previewLabel, preview]),
      error,
      el("div", { className: "row end" }, [cancel, submit]),
    ]);
    const title = el("h1", { id: "templates-heading" });
    const intro = el("p", { className: "muted" });
    section?.append(
      el("section", { className: "card admin-card" }, [title, intro, status, filters,
        el("div", { className: "admin-table-wrap" }, [
          el("table", { className: "admin-table", testid: "templates-table" }, [
            el("thead", {}, [el("tr", {}, heads)]), rows])]),
        empty]),
      el("section", { className: "card admin-card" }, [formHeading, form]));

    // ---- loading -----------------------------------------------------------------------------

    function say(text, kindOf = "ok") {
      status.dataset.kind = kindOf;
      status.textContent = text;
    }

    async function activate() {
      renderWords();
      try {
        const [listed, lanes] = await Promise.all([api("GET", BASE),
          api("GET", "/api/v1/admin/lanes").catch(() => ({ lanes: [] }))]);
        state.templates = listed.answer_templates;
        state.defaults = listed.defaults || {};
        state.filled = listed.filled || FILLED;
        state.lanes = lanes.lanes || [];
      } catch (err) {
        if (err.status !== 401) say(t("tpl_failed", { reason: err.message }), "error");
      }
      render();
    }

    // ---- the list ----------------------------------------------------------------------------

    function laneName(key) {
      if (!key) return t("tpl_every_lane");
      const found = state.lanes.find((l) => l.key === key);
      return found ? (lang() === "fi" ? found.name_fi : found.name_en) || key : key;
    }

    function when(iso) {
      const at = new Date(iso);
      return Number.isNaN(at.getTime()) ? "" : new Intl.DateTimeFormat(
        lang() === "fi" ? "fi-FI" : "en-GB", { dateStyle: "short", timeStyle: "short" })
        .format(at);
    }

    function render() {
      renderWords();
      renderList();
      renderForm();
    }

    /** The section's own words, shown before its data comes so no control is unnamed. */
    function renderWords() {
      title.textContent = t("tpl_title");
      intro.textContent = t("tpl_intro");
      filters.setAttribute("aria-label", t("tpl_filter"));
      heads.forEach((th, i) => { th.textContent = t(HEADS[i]); });
      for (const option of kind.options) option.textContent = t(`tpl_kind_${option.value}`);
      for (const option of language.options) {
        option.textContent = t(`tpl_language_${option.value}`);
      }
      labels.kind.textContent = t("tpl_col_kind");
      labels.lane.textContent = t("tpl_col_lane");
      labels.language.textContent = t("tpl_col_language");
      labels.body.textContent = t("tpl_col_text");
      placeholderLabel.textContent = t("tpl_placeholders");
      previewLabel.textContent = t("tpl_preview");
      cancel.textContent = t("tpl_cancel");
      for (const button of filters.children) {
        button.textContent = button.dataset.kind ? t(`tpl_kind_${button.dataset.kind}`)
          : t("tpl_all");
      }
      if (!submit.textContent) submit.textContent = t("tpl_add");
    }

    /** Each kind's templates, every lane's first, with the built-in text where a language
     * has no every-lane template. */
    function shownRows() {
      const shown = [];
      for (const kindOf of KINDS) {
        if (state.filter && state.filter !== kindOf) continue;
        const own = state.templates.filter((x) => x.kind === kindOf);
        for (const languageOf of LANGUAGES) {
          const text = state.defaults[kindOf]?.[languageOf];
          if (text && !own.some((x) => !x.lane && x.language === languageOf)) {
            shown.push({ builtIn: true, kind: kindOf, lane: null, language: languageOf,
              body: text });
          }
        }
        shown.push(...own);
      }
      const rank = (x) => [KINDS.indexOf(x.kind), x.lane ? 1 : 0, x.lane || "",
        LANGUAGES.indexOf(x.language)];
      return shown.sort((a, b) => {
        const [ra, rb] = [rank(a), rank(b)];
        for (let i = 0; i < ra.length; i += 1) {
          if (ra[i] < rb[i]) return -1;
          if (ra[i] > rb[i]) return 1;
        }
        return 0;
      });
    }

    function renderList() {
      for (const button of filters.children) {
        button.textContent = button.dataset.kind ? t(`tpl_kind_${button.dataset.kind}`)
          : t("tpl_all");
        button.setAttribute("aria-pressed", String(button.dataset.kind === state.filter));
      }
      const shown = shownRows();
      rows.replaceChildren(...shown.map(row));
      empty.hidden = shown.length > 0;
      empty.textContent = t("tpl_empty");
    }

    function row(template) {
      const tr = el("tr", { testid: template.builtIn ? "template-default-row" : "template-row" });
      tr.dataset.kind = template.kind;
      tr.dataset.lane = template.lane || "";
      tr.dataset.language = template.language;
      const badge = el("span", { className: "lang-badge", text: template.language.toUpperCase(),
        translate: "no",
        title: t(`tpl_language_${template.language}`) });
      badge.dataset.language = template.language;
      const actions = el("td", { className: "actions-cell" });
      const button = (key, testid, className, onClick) => {
        const made = el("button", { type: "button", className, text: t(key), testid });
        made.addEventListener("click", onClick);
        return made;
      };
      if (template.builtIn) {
        actions.append(button("tpl_customize", "template-customize", "", () => startAdd(template)));
      } else if (state.confirming === template.id) {
        actions.append(el("span", { className: "confirm", text: t("tpl_confirm") }),
          button("tpl_yes", "template-confirm-delete", "danger", () => remove(template)),
          button("tpl_cancel", "template-cancel-delete", "quiet", () => {
            state.confirming = null;
            renderList();
          }));
      } else {
        actions.append(button("tpl_edit", "template-edit", "", () => startEdit(template)),
          button("tpl_delete", "template-delete", "", () => {
            state.confirming = template.id;
            renderList();
          }));
      }
      const text = el("td", { className: "canned-text", testid: "template-text" },
        [el("span", { text: template.body, "data-user-text": "" })]);
      if (template.builtIn) {
        text.append(el("br"), el("span", { className: "muted", text: `(${t("tpl_default")})` }));
      }
      const updated = el("td", { className: "nowrap" },
        [template.updated_at ? when(template.updated_at) : ""]);
      if (template.updated_by) {
        updated.append(el("br"), el("span", { className: "muted", text: template.updated_by.name }));
      }
      tr.append(el("td", { className: "login", text: t(`tpl_kind_${template.kind}`) }),
        el("td", { text: laneName(template.lane) }), el("td", {}, [badge]), text, updated,
        actions);
      return tr;
    }

    // ---- the form ----------------------------------------------------------------------------

    function renderForm() {
      const editing = state.templates.find((x) => x.id === state.editing) || null;
      formHeading.textContent = editing ? t("tpl_edit_title", {
        kind: t(`tpl_kind_${editing.kind}`), lane: laneName(editing.lane),
        language: t(`tpl_language_${editing.language}`) }) : t("tpl_add_title");
      submit.textContent = t(editing ? "tpl_save" : "tpl_add");
      cancel.hidden = !editing;
      const chosen = lane.value;
      lane.replaceChildren(el("option", { value: "", text: t("tpl_every_lane") }),
        ...state.lanes.map((l) => el("option", { value: l.key, text: laneName(l.key) })));
      lane.value = [...lane.options].some((o) => o.value === chosen) ? chosen : "";
      buttons.replaceChildren(...(state.filled[kind.value] || []).map((name) => {
        const insert = el("button", { type: "button", className: "placeholder",
          text: `{${name}}`, title: t(`tpl_placeholder_${name}`), translate: "no",
          testid: `template-placeholder-${name}` });
        insert.addEventListener("click", () => insertPlaceholder(name));
        return el("span", { className: "placeholder-item" }, [insert,
          el("span", { className: "muted", text: t(`tpl_placeholder_${name}`) })]);
      }));
      showPreview();
    }

    function unfilledIn(text) {
      const names = [...text.matchAll(PLACEHOLDER)].map((m) => m[1]);
      return [...new Set(names)].filter((name) => !(state.filled[kind.value] || [])
        .includes(name));
    }

    /** The text as a passenger would read it; placeholders this kind does not fill are
     * named at once (the hub refuses them too). */
    function showPreview() {
      const text = body.value.trim();
      const values = { reference: SAMPLE_REFERENCE, ...(SAMPLES[language.value] || SAMPLES.en) };
      const filled = state.filled[kind.value] || [];
      preview.textContent = text.replace(PLACEHOLDER,
        (whole, name) => (filled.includes(name) ? values[name] : whole));
      count.textContent = t("tpl_count", { n: [...text].length, max: MAX_BODY });
      const unfilled = unfilledIn(text);
      if (state.taken) return;
      error.replaceChildren(unfilled.length ? t("tpl_unknown",
        { names: unfilled.map((n) => `{${n}}`).join(", ") }) : "");
    }

    function insertPlaceholder(name) {
      const text = `{${name}}`;
      const start = body.selectionStart ?? body.value.length;
      const end = body.selectionEnd ?? start;
      body.value = body.value.slice(0, start) + text + body.value.slice(end);
      body.focus();
      body.setSelectionRange(start + text.length, start + text.length);
      showPreview();
    }

    function fill(template) {
      kind.value = template.kind;
      language.value = template.language;
      body.value = template.body;
      state.taken = null;
      renderForm();
      lane.value = template.lane || "";
      body.focus();
    }

    function startEdit(template) {
      state.editing = template.id;
      fill(template);
    }

    function startAdd(template) {
      state.editing = null;
      fill(template);
    }

    function resetForm() {
      state.editing = null;
      state.taken = null;
      form.reset();
      language.value = lang();
      renderForm();
    }

    async function onSubmit(event) {
      event.preventDefault();
      const sent = { kind: kind.value, lane: lane.value || null, language: language.value,
        body: body.value.trim() };
      state.taken = null;
      if (!sent.body) {
        error.replaceChildren(t("tpl_required"));
        body.focus();
        return;
      }
      const unfilled = unfilledIn(sent.body);
      if (unfilled.length) {
        error.replaceChildren(t("tpl_unknown", { names: unfilled.map((n) => `{${n}}`)
          .join(", ") }));
        body.focus();
        return;
      }
      const editing = state.editing;
      try {
        const { answer_template: saved } = editing
          ? await api("PUT", `${BASE}/${encodeURIComponent(editing)}`, sent)
          : await api("POST", BASE, sent);
        state.templates = [...state.templates.filter((x) => x.id !== saved.id), saved];
        resetForm();
        renderList();
        say(t(editing ? "tpl_done_save" : "tpl_done_add"));
      } catch (err) {
        if (err.status === 401) return;
        if (err.status === 409 && err.body.existing) {
          state.taken = err.body.existing;
          const other = el("button", { type: "button", className: "quiet",
            text: t("tpl_edit_taken"), testid: "template-edit-taken" });
          other.addEventListener("click", () => {
            const found = state.templates.find((x) => x.id === state.taken);
            if (found) startEdit(found);
          });
          error.replaceChildren(`${t("tpl_taken")} `, other);
          return;
        }
        error.replaceChildren(t("tpl_failed", { reason: err.message }));
      }
    }

    async function remove(template) {
      try {
        await api("DELETE", `${BASE}/${encodeURIComponent(template.id)}`);
        state.templates = state.templates.filter((x) => x.id !== template.id);
        if (state.editing === template.id) resetForm();
        say(t("tpl_done_delete"));
      } catch (err) {
        if (err.status !== 401) say(t("tpl_failed", { reason: err.message }), "error");
      }
      state.confirming = null;
      renderList();
    }

    form.addEventListener("submit", onSubmit);
    cancel.addEventListener("click", resetForm);
    body.addEventListener("input", showPreview);
    language.addEventListener("change", showPreview);
    kind.addEventListener("change", () => {
      state.taken = null;
      renderForm();
    });
    lane.addEventListener("change", () => {
      state.taken = null;
      showPreview();
    });
    language.value = lang();

    return { activate, render };
  }

  const admin = globalThis.TaxiAdmin || (globalThis.TaxiAdmin = { sections: {} });
  admin.sections.templates = createTemplates;
})();
