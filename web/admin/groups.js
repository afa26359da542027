/* Admin page, staff groups (dispatch/groups_api.py): the groups with their member counts, add
 * one, and for the chosen group its members, each edited in place (name, number, address) or
 * removed, one added by hand, or many pasted from a spreadsheet as `name;phone;email` lines
 * (all or none; "replace" makes the paste the whole group). Rename, and delete after a
 * confirmation. Members' names and numbers are personal data: they reach the page only as
 * inputs' values and textContent, and the hub's audit trail records changes without them.
 * Registered for admin.js, which shows it under its tab; it builds its own section.
 */
"use strict";

(() => {
  const BASE = "/api/v1/admin/groups";
  const FIELDS = ["name", "phone", "email"];
  const words = window.TaxiConnect.words; // web/words.js: the page catalogue

  function createGroups({ t, api, el }) {
    const state = { groups: [], group: null, confirming: false };
    const node = (tag, props = {}, children = []) => el(tag, props, children);
    const label = (key, props = {}) => {
      const found = node("label", props);
      found.dataset.i18n = key;
      return found;
    };

    // ---- the section's page: built here, shown by admin.js under the tab -----------------------
    const status = node("p", { className: "admin-status", testid: "groups-status" });
    status.setAttribute("role", "status");
    const rows = node("tbody", { testid: "groups-rows" });
    const empty = node("p", { className: "muted", testid: "groups-empty", hidden: true });
    const heads = (keys) => node("thead", {}, [node("tr", {}, keys.map((key) => {
      const th = node("th", { scope: "col" });
      if (key) th.dataset.i18n = key;
      return th;
    }))]);
    const addName = node("input", { id: "group-add-name", maxLength: 100, autocomplete: "off",
      testid: "group-add-name" });
    const addError = node("p", { className: "field-error", testid: "group-add-error" });
    const addForm = node("form", { className: "add-form", noValidate: true,
      testid: "group-add-form" }, [
      node("div", { className: "field" }, [label("group_add_label", { htmlFor: "group-add-name" }),
        addName]),
      addError,
      node("div", { className: "row" }, [node("button", { type: "submit",
        className: "primary", testid: "group-add" })]),
    ]);
    addForm.querySelector("button").dataset.i18n = "group_add";
    const list = node("section", { className: "card admin-card" }, [
      node("h1", {}, []), node("p", { className: "muted" }), status,
      node("div", { className: "admin-table-wrap" }, [node("table", { className: "admin-table",
        testid: "groups-table" }, [heads(["col_group", "col_members", "col_phones",
        "col_emails", "col_actions"]), rows])]), empty, addForm]);
    list.querySelector("h1").dataset.i18n = "groups_title";
    list.querySelector("p.muted").dataset.i18n = "groups_intro";

    const heading = node("h2", { testid: "group-heading" });
    const renameInput = node("input", { maxLength: 100, autocomplete: "off",
      testid: "group-rename-name" });
    renameInput.setAttribute("aria-label", t("group_rename"));
    const groupActions = node("div", { className: "row" });
    const memberRows = node("tbody", { testid: "member-rows" });
    const membersEmpty = node("p", { className: "muted", testid: "members-empty",
      hidden: true });
    membersEmpty.dataset.i18n = "members_empty";
    const newMember = Object.fromEntries(FIELDS.map((field) => [field, node("input", {
      autocomplete: "off", testid: `member-add-${field}` })]));
    const memberError = node("p", { className: "field-error", testid: "member-add-error" });
    const memberForm = node("form", { className: "add-form", noValidate: true,
      testid: "member-add-form" }, [
      ...FIELDS.map((field) => {
        newMember[field].id = `member-add-${field}`;
        return node("div", { className: "field" }, [label(field === "name" ? "col_name"
          : `member_${field}`, { htmlFor: newMember[field].id }), newMember[field]]);
      }),
      memberError,
      node("div", { className: "row" }, [node("button", { type: "submit",
        testid: "member-add" })]),
    ]);
    memberForm.querySelector("button").dataset.i18n = "member_add";
    const csv = node("textarea", { id: "group-csv", rows: 6, spellcheck: false,
      testid: "group-csv", placeholder: "Aino Virtanen;040 123 4567;aino@example.fi" });
    const replace = node("input", { type: "checkbox", id: "group-csv-replace",
      testid: "group-csv-replace" });
    const csvError = node("p", { className: "field-error", testid: "group-csv-error" });
    const csvForm = node("form", { className: "add-form", noValidate: true,
      testid: "group-csv-form" }, [
      node("div", { className: "field wide" }, [label("import_title", { htmlFor: "group-csv" }),
        csv, node("p", { className: "muted" })]),
      node("label", { className: "check-field" }, [replace, node("span")]),
      csvError,
      node("div", { className: "row" }, [node("button", { type: "submit",
        testid: "group-csv-import" })]),
    ]);
    csvForm.querySelector("p.muted").dataset.i18n = "import_help";
    csvForm.querySelector("label.check-field span").dataset.i18n = "import_replace";
    csvForm.querySelector("button").dataset.i18n = "import_submit";
    const detail = node("section", { className: "card admin-card", testid: "group-detail",
      hidden: true }, [heading, groupActions,
      node("div", { className: "admin-table-wrap" }, [node("table", { className: "admin-table",
        testid: "members-table" }, [heads(["col_name", "member_phone", "member_email",
        "col_actions"]), memberRows])]), membersEmpty, memberForm, csvForm]);
    const section = node("div", { className: "admin-section", hidden: true }, [list, detail]);
    section.dataset.section = "groups";
    document.getElementById("admin-view")?.append(section);

    // ---- behaviour -----------------------------------------------------------------------

    function say(text, kind = "ok") {
      status.dataset.kind = kind;
      status.textContent = text;
    }

    function failed(err) {
      return err.status === 401 ? "" : t("failed", { reason: err.message });
    }

    function words() {
      for (const found of section.querySelectorAll("[data-i18n]")) {
        found.textContent = t(found.dataset.i18n);
      }
    }

    async function activate() {
      try {
        state.groups = (await api("GET", BASE)).groups;
      } catch (err) {
        say(failed(err), "error");
      }
      if (state.group) await choose(state.group.id);
      render();
    }

    function render() {
      words();
      rows.replaceChildren(...state.groups.map(groupRow));
      empty.hidden = state.groups.length > 0;
      empty.textContent = t("groups_empty");
      renderGroup();
    }

    function groupRow(group) {
      const tr = node("tr", { testid: "group-row" });
      tr.dataset.name = group.name;
      const open = node("button", { type: "button", text: t("group_choose"),
        testid: "group-choose" });
      open.addEventListener("click", () => choose(group.id));
      if (state.group?.id === group.id) tr.setAttribute("aria-current", "true");
      tr.append(node("td", { className: "login", text: group.name }),
        ...["members", "phones", "emails"].map((key) => node("td", { className: "number",
          text: String(group[key]), testid: `group-${key}` })),
        node("td", { className: "actions-cell" }, [open]));
      return tr;
    }

    async function choose(id) {
      try {
        state.group = (await api("GET", `${BASE}/${encodeURIComponent(id)}`)).group;
      } catch (err) {
        state.group = null;
        say(failed(err), "error");
      }
      state.confirming = false;
      renderGroup();
    }

    function renderGroup() {
      const group = state.group;
      detail.hidden = !group;
      if (!group) return;
      heading.textContent = t("group_heading", { name: group.name });
      if (document.activeElement !== renameInput) renameInput.value = group.name;
      const rename = node("button", { type: "button", text: t("group_rename"),
        testid: "group-rename" });
      rename.addEventListener("click", () => renameGroup(renameInput.value));
      const actions = [renameInput, rename];
      if (state.confirming) {
        const yes = node("button", { type: "button", className: "danger",
          text: t("group_delete_yes"), testid: "group-delete-confirm" });
        yes.addEventListener("click", deleteGroup);
        const no = node("button", { type: "button", className: "quiet", text: t("cancel") });
        no.addEventListener("click", () => { state.confirming = false; renderGroup(); });
        actions.push(node("span", { className: "confirm", text: t("group_delete_confirm",
          { count: group.members }) }), yes, no);
      } else {
        const del = node("button", { type: "button", text: t("group_delete"),
          testid: "group-delete" });
        del.addEventListener("click", () => { state.confirming = true; renderGroup(); });
        actions.push(del);
      }
      groupActions.replaceChildren(...actions);
      memberRows.replaceChildren(...group.member_list.map(memberRow));
      membersEmpty.hidden = group.member_list.length > 0;
    }

    function memberRow(member) {
      const tr = node("tr", { testid: "member-row" });
      tr.dataset.name = member.name;
      const inputs = {};
      const cells = FIELDS.map((field) => {
        const input = node("input", { value: member[field] ?? "", testid: `member-${field}` });
        input.setAttribute("aria-label", `${t(field === "name" ? "col_name"
          : `member_${field}`)}: ${member.name}`);
        inputs[field] = input;
        inputs[`${field}_error`] = node("p", { className: "cell-error",
          testid: `member-error-${field}` });
        return node("td", {}, [input, inputs[`${field}_error`]]);
      });
      const save = node("button", { type: "button", text: t("save"), testid: "member-save" });
      save.addEventListener("click", () => saveMember(member, inputs));
      const remove = node("button", { type: "button", text: t("member_remove"),
        testid: "member-remove" });
      remove.addEventListener("click", () => removeMember(member));
      tr.append(...cells, node("td", { className: "actions-cell" }, [save, remove]));
      return tr;
    }

    /** Each refused field marked with its code's words in the page's language, else with
     * the hub's own word for it. */
    function showFields(fields, slot) {
      for (const [field, reason] of Object.entries(fields || {})) {
        const found = slot(field);
        if (found) found.textContent = words.fieldText(reason) ?? reason;
      }
    }

    async function addGroup(event) {
      event.preventDefault();
      addError.textContent = "";
      try {
        const { group } = await api("POST", BASE, { name: addName.value.trim() });
        addName.value = "";
        state.groups = [...state.groups, group].sort((a, b) => a.name.localeCompare(b.name));
        state.group = group;
        render();
        say(t("group_done_add", { name: group.name }));
      } catch (err) {
        addError.textContent = err.body?.fields?.name === "taken" ? err.message
          : failed(err);
      }
    }

    async function renameGroup(name) {
      try {
        const { group } = await api("PATCH", `${BASE}/${state.group.id}`, { name: name.trim() });
        state.group = group;
        await refreshList();
        say(t("group_done_rename", { name: group.name }));
      } catch (err) {
        say(failed(err), "error");
      }
    }

    async function deleteGroup() {
      const group = state.group;
      try {
        await api("DELETE", `${BASE}/${group.id}`);
        state.group = null;
        await refreshList();
        say(t("group_done_delete", { name: group.name }));
      } catch (err) {
        say(failed(err), "error");
      }
    }

    async function addMember(event) {
      event.preventDefault();
      memberError.textContent = "";
      const body = Object.fromEntries(FIELDS.map((f) => [f, newMember[f].value.trim() || null]));
      try {
        const { member } = await api("POST", `${BASE}/${state.group.id}/members`, body);
        for (const field of FIELDS) newMember[field].value = "";
        await choose(state.group.id);
        await refreshList();
        say(t("member_done_add", { name: member.name }));
      } catch (err) {
        const fields = err.body?.fields || {};
        memberError.textContent = Object.keys(fields).length
          ? words.errorSentence(err.body) ?? Object.entries(fields)
            .map(([f, reason]) => `${f}: ${words.fieldText(reason) ?? reason}`).join("; ")
          : failed(err);
      }
    }

    async function saveMember(member, inputs) {
      const body = {};
      for (const field of FIELDS) {
        inputs[`${field}_error`].textContent = "";
        body[field] = inputs[field].value.trim() || null;
      }
      try {
        const { member: saved } = await api("PATCH",
          `${BASE}/${state.group.id}/members/${member.id}`, body);
        await choose(state.group.id);
        await refreshList();
        say(t("member_done_save", { name: saved.name }));
      } catch (err) {
        showFields(err.body?.fields, (field) => inputs[`${field}_error`]);
        say(err.body?.fields ? words.errorSentence(err.body) ?? t("check_fields") : failed(err),
          "error");
      }
    }

    async function removeMember(member) {
      try {
        await api("DELETE", `${BASE}/${state.group.id}/members/${member.id}`);
        await choose(state.group.id);
        await refreshList();
        say(t("member_done_remove", { name: member.name }));
      } catch (err) {
        say(failed(err), "error");
      }
    }

    async function importCsv(event) {
      event.preventDefault();
      csvError.textContent = "";
      try {
        const done = await api("POST", `${BASE}/${state.group.id}/members/import`,
          { csv: csv.value, replace: replace.checked });
        csv.value = "";
        replace.checked = false;
        state.group = done.group;
        await refreshList();
        say(t("import_done", done));
      } catch (err) {
        const fields = err.body?.fields || {};
        csvError.textContent = Object.keys(fields).length
          ? words.errorSentence(err.body)
            ?? Object.entries(fields).map(([line, reason]) => `${line}: ${reason}`).join("; ")
          : failed(err);
      }
    }

    async function refreshList() {
      try {
        state.groups = (await api("GET", BASE)).groups;
      } catch (err) {
        say(failed(err), "error");
      }
      render();
    }

    addForm.addEventListener("submit", addGroup);
    memberForm.addEventListener("submit", addMember);
    csvForm.addEventListener("submit", importCsv);
    return { activate, render };
  }

  const admin = globalThis.TaxiAdmin || (globalThis.TaxiAdmin = { sections: {} });
  admin.sections.groups = createGroups;
})();
