/* TaxiConnect admin page: accounts (add, edit name, role and phones, disable or enable, set a
 * new password), and the tabs that show the other sections: canned replies (canned.js), lanes
 * and routing rules (lanes.js), channel status (channels.js), groups (groups.js), the audit
 * trail (audit.js) and the outbound webhooks' delivery log (webhooks.js). Those register
 * themselves in globalThis.TaxiAdmin.sections before this script runs, and get this page's
 * words, API and element helpers. Plain JavaScript, nothing loaded from elsewhere; every value
 * from the server reaches the page as textContent or an input's value, never as markup.
 */
"use strict";

(() => {
  const words = window.TaxiConnect.words; // web/words.js: the page catalogue, loaded at boot
  // This page's words and its sections' (they share this `t`).
  const t = words.scope("admin", "admin_canned", "admin_templates", "admin_lanes",
    "admin_rules", "admin_channels", "admin_groups", "admin_subject", "admin_audit",
    "admin_webhooks");
  const LANG_KEY = "taxiconnect.console.lang"; // shared with the console
  const ROLES = ["team", "external", "admin"];
  const EDITABLE = ["name", "email", "phone", "phone_login"];

  // tab order
  const SECTIONS = ["users", "canned", "templates", "lanes", "channels", "groups", "subject",
    "audit", "webhooks"];

  const state = { lang: "fi", me: null, users: [], section: null };
  const $ = (id) => document.getElementById(id);
  // The other scripts' parts, by name: {tab, activate, deactivate, render}; a tab can show
  // more than one (lanes and routing rules).
  const sections = new Map();

  function initialLanguage() {
    try {
      const stored = localStorage.getItem(LANG_KEY);
      if (words.LANGUAGES.includes(stored)) return stored;
    } catch (_) { /* storage blocked */ }
    return (navigator.language || "").toLowerCase().startsWith("fi") ? "fi" : "en";
  }

  function applyStaticText() {
    document.documentElement.lang = state.lang;
    for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const el of document.querySelectorAll("[data-i18n-label]")) {
      el.setAttribute("aria-label", t(el.dataset.i18nLabel));
    }
    for (const button of document.querySelectorAll(".lang-btn")) {
      button.setAttribute("aria-pressed", String(button.dataset.lang === state.lang));
    }
    if (state.me) $("whoami").textContent = t("signed_in_as", { name: state.me.name });
    fillRoles($("add-role"), $("add-role").value || "team");
  }

  async function setLanguage(lang) {
    if (!words.LANGUAGES.includes(lang)) return;
    state.lang = await words.use(lang);
    try { localStorage.setItem(LANG_KEY, lang); } catch (_) { /* used, not remembered */ }
    applyStaticText();
    renderUsers();
    for (const section of sections.values()) section.render?.();
  }

  // ---- the API -----------------------------------------------------------------------------

  /** An error answer of the hub; its message is the catalogue's words for the body's code
   * in the page's language, or the hub's own reason when the catalogue has none. */
  class ApiError extends Error {
    constructor(status, body) {
      super(window.TaxiConnect.words.errorText(body, `HTTP ${status}`));
      this.status = status;
      this.body = body || {};
    }
  }

  async function api(method, path, body) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (_) {
      throw new ApiError(0, { error: t("error_network") });
    }
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (!response.ok) {
      if (response.status === 401 && !path.startsWith("/api/v1/auth/")) show("login");
      throw new ApiError(response.status, data);
    }
    return data;
  }

  // ---- views -------------------------------------------------------------------------------

  function show(view) {
    $("login-view").hidden = view !== "login";
    $("denied-view").hidden = view !== "denied";
    $("admin-view").hidden = view !== "admin";
    $("whoami").hidden = view === "login";
    if (view !== "admin") showSection(null);
    if (view === "login") {
      state.me = null;
      $("login-user").focus();
    }
  }

  async function start() {
    let me;
    try {
      me = (await api("GET", "/api/v1/me")).agent;
    } catch (err) {
      show("login");
      if (err.status === 0) $("login-error").textContent = t("error_network");
      return;
    }
    state.me = me;
    applyStaticText();
    if (me.role !== "admin") {
      show("denied");
      return;
    }
    show("admin");
    showSection(sectionInHash());
  }

  // ---- sections ----------------------------------------------------------------------------

  function sectionInHash() {
    const name = window.location.hash.slice(1);
    return SECTIONS.includes(name) ? name : "users";
  }

  /** Show one section (null: none): the one left stops its work (a refresh timer), the one
   * shown loads afresh. */
  function showSection(name) {
    const parts = (tab) => [...sections.values()].filter((part) => part.tab === tab);
    if (state.section && state.section !== name) {
      for (const part of parts(state.section)) part.deactivate?.();
    }
    const changed = state.section !== name;
    state.section = name;
    for (const node of document.querySelectorAll(".admin-section")) {
      node.hidden = node.dataset.section !== name;
    }
    for (const tab of document.querySelectorAll(".admin-tab")) {
      if (tab.dataset.section === name) tab.setAttribute("aria-current", "page");
      else tab.removeAttribute("aria-current");
    }
    if (!name || !changed) return;
    if (name === "users") loadUsers();
    for (const part of parts(name)) part.activate?.();
  }

  /** The other scripts' sections, made with what they share with this one. */
  function makeSections() {
    const kit = { t, api, el, $, me: () => state.me, lang: () => state.lang };
    for (const [name, make] of Object.entries(globalThis.TaxiAdmin?.sections || {})) {
      const section = make(kit);
      sections.set(name, { tab: name, ...section });
    }
  }

  async function onLogin(event) {
    event.preventDefault();
    const error = $("login-error");
    error.textContent = "";
    try {
      await api("POST", "/api/v1/auth/login",
        { login: $("login-user").value.trim(), password: $("login-password").value });
      $("login-password").value = "";
      await start();
    } catch (err) {
      error.textContent = err.status === 401 ? t("login_failed") : err.message;
    }
  }

  function say(text, kind = "ok") {
    const status = $("admin-status");
    status.dataset.kind = kind;
    status.textContent = text;
  }

  // ---- users -------------------------------------------------------------------------------

  async function loadUsers() {
    try {
      state.users = (await api("GET", "/api/v1/admin/agents")).agents;
    } catch (err) {
      if (err.status !== 401) say(t("failed", { reason: err.message }), "error");
      return;
    }
    renderUsers();
  }

  function fillRoles(select, value) {
    select.replaceChildren(...ROLES.map((role) => {
      const option = document.createElement("option");
      option.value = role;
      option.textContent = t(`role_${role}`);
      return option;
    }));
    select.value = value;
  }

  function el(tag, props = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "testid") node.dataset.testid = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("data-") || key === "translate") { // attributes, not properties
        if (value !== null && value !== undefined) node.setAttribute(key, value);
      } else node[key] = value;
    }
    node.append(...children);
    return node;
  }

  function renderUsers() {
    const body = $("users-body");
    body.replaceChildren(...state.users.map(userRow));
  }

  function userRow(user) {
    const self = state.me && user.id === state.me.id;
    const tr = el("tr", { testid: "user-row" });
    tr.dataset.login = user.login;
    tr.dataset.active = String(user.active);
    const inputs = {};
    const login = el("td", { className: "login" }, [user.login]);
    if (self) login.append(" ", el("span", { className: "muted", text: t("you") }));
    const cells = [login];
    for (const field of EDITABLE) {
      const input = el("input", { value: user[field] ?? "", testid: `edit-${field}` });
      input.setAttribute("aria-label", `${t(`col_${field}`)}: ${user.login}`);
      inputs[field] = input;
      const error = el("p", { className: "cell-error", testid: `error-${field}` });
      inputs[`${field}_error`] = error;
      cells.push(el("td", {}, [input, error]));
    }
    const role = el("select", { testid: "edit-role", disabled: Boolean(self) });
    role.setAttribute("aria-label", `${t("col_role")}: ${user.login}`);
    fillRoles(role, user.role);
    inputs.role = role;
    cells.splice(2, 0, el("td", {}, [role]));
    const badge = el("span", { className: "state", testid: "user-state",
      text: t(user.active ? "state_active" : "state_disabled") });
    badge.dataset.active = String(user.active);
    cells.push(el("td", {}, [badge]));

    const save = el("button", { type: "button", text: t("save"), testid: "save" });
    save.addEventListener("click", () => saveUser(user, inputs));
    const toggle = el("button", { type: "button", testid: "toggle-active",
      text: t(user.active ? "disable" : "enable"), disabled: Boolean(self) });
    toggle.addEventListener("click", () => change(user, { active: !user.active },
      user.active ? "done_disable" : "done_enable"));
    const reset = el("button", { type: "button", text: t("reset_password"),
      testid: "reset-password" });
    const actions = el("td", { className: "actions-cell" }, [save, toggle, reset]);
    reset.addEventListener("click", () => {
      reset.hidden = true;
      const password = el("input", { type: "password", autocomplete: "new-password",
        placeholder: t("new_password"), testid: "new-password" });
      password.setAttribute("aria-label", `${t("new_password")}: ${user.login}`);
      const set = el("button", { type: "button", text: t("set_password"),
        testid: "set-password", className: "primary" });
      const cancel = el("button", { type: "button", text: t("cancel"), className: "quiet" });
      const box = el("div", { className: "reset-box" }, [password, set, cancel]);
      cancel.addEventListener("click", () => { box.remove(); reset.hidden = false; });
      set.addEventListener("click", () => setPassword(user, password.value));
      actions.append(box);
      password.focus();
    });
    cells.push(actions);
    tr.append(...cells);
    return tr;
  }

  function saveUser(user, inputs) {
    const body = { role: inputs.role.value };
    for (const field of EDITABLE) {
      inputs[`${field}_error`].textContent = "";
      body[field] = inputs[field].value.trim() || null;
    }
    if (body.name === null) body.name = "";
    if (user.id === state.me.id) delete body.role;
    return change(user, body, "done_save", inputs);
  }

  async function change(user, body, done, inputs) {
    try {
      const { agent } = await api("PATCH", `/api/v1/admin/agents/${user.id}`, body);
      replaceUser(agent);
      say(t(done, { login: agent.login }));
    } catch (err) {
      if (err.status === 401) return;
      const fields = err.body.fields || {};
      if (inputs) {
        for (const [field, reason] of Object.entries(fields)) {
          if (inputs[`${field}_error`]) {
            inputs[`${field}_error`].textContent = words.fieldText(reason) ?? reason;
          }
        }
      }
      say(Object.keys(fields).length ? words.errorSentence(err.body) ?? t("check_fields")
        : t("failed", { reason: err.message }), "error");
    }
  }

  async function setPassword(user, password) {
    try {
      await api("POST", `/api/v1/admin/agents/${user.id}/password`, { password });
      say(t("done_password", { login: user.login }));
      renderUsers();
    } catch (err) {
      if (err.status === 401) return;
      const reason = (err.body.fields || {}).password;
      say(reason ? `${t("new_password")}: ${words.errorSentence(err.body) ?? reason}`
        : t("failed", { reason: err.message }),
        "error");
    }
  }

  function replaceUser(agent) {
    state.users = state.users.map((u) => (u.id === agent.id ? agent : u));
    renderUsers();
  }

  async function onAdd(event) {
    event.preventDefault();
    const form = $("add-form");
    for (const p of form.querySelectorAll(".field-error")) p.textContent = "";
    $("add-error").textContent = "";
    const body = {};
    for (const name of ["login", "name", "role", "email", "phone", "phone_login", "password"]) {
      const value = form.elements[name].value;
      if (name === "password" || value.trim()) body[name] = name === "password" ? value
        : value.trim();
    }
    try {
      const { agent } = await api("POST", "/api/v1/admin/agents", body);
      form.reset();
      fillRoles($("add-role"), "team");
      state.users = [...state.users, agent].sort((a, b) => a.login.localeCompare(b.login));
      renderUsers();
      say(t("done_add", { login: agent.login }));
    } catch (err) {
      if (err.status === 401) return;
      const fields = err.body.fields || {};
      for (const [field, reason] of Object.entries(fields)) {
        const slot = form.querySelector(`.field-error[data-for="${CSS.escape(field)}"]`);
        if (slot) slot.textContent = field === "login" && reason === "taken"
          ? t("login_taken") : words.fieldText(reason) ?? reason;
      }
      $("add-error").textContent = Object.keys(fields).length
        ? words.errorSentence(err.body) ?? t("check_fields")
        : t("failed", { reason: err.message });
    }
  }

  async function boot() {
    state.lang = await words.use(initialLanguage());
    makeSections();
    applyStaticText();
    for (const button of document.querySelectorAll(".lang-btn")) {
      button.addEventListener("click", () => setLanguage(button.dataset.lang));
    }
    $("login-form").addEventListener("submit", onLogin);
    $("add-form").addEventListener("submit", onAdd);
    window.addEventListener("hashchange", () => {
      if (state.me && state.me.role === "admin" && !$("admin-view").hidden) {
        showSection(sectionInHash());
      }
    });
    start();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
