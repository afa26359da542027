/* TaxiConnect reports page (dispatch/reports_api.py): pick a period of local days, a grouping
 * (lane, channel, last agent, hour of day, day) and an optional service-level threshold; see
 * the figures as a table and one of them as a bar chart (chart.js), and download the same as
 * CSV, or every request's timings. Admins and dispatchers; external users are told it is not
 * theirs. Every word from the catalogue below, Finnish and English; every value from the
 * server reaches the page as textContent.
 */
"use strict";

(() => {
  const words = window.TaxiConnect.words; // web/words.js: the page catalogue, loaded at start
  const t = words.scope("reports");
  const LANG_KEY = "taxiconnect.console.lang"; // shared with the console
  const FIGURES = ["contacts", "answered", "abandoned", "abandoned_missed_calls",
    "abandoned_chats", "abandoned_late_callbacks", "avg_speed_of_answer_s",
    "p90_speed_of_answer_s", "answered_within_target", "service_level_pct",
    "avg_handling_time_s", "callbacks", "callbacks_in_time", "avg_first_response_s"];
  const CHARTED = ["contacts", "answered", "abandoned", "avg_speed_of_answer_s",
    "p90_speed_of_answer_s", "service_level_pct", "avg_handling_time_s",
    "avg_first_response_s"];

  const state = { lang: "fi", me: null, report: null, status: null };
  const $ = (id) => document.getElementById(id);

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
    for (const el of document.querySelectorAll("[data-i18n-placeholder]")) {
      el.placeholder = t(el.dataset.i18nPlaceholder);
    }
    for (const button of document.querySelectorAll(".lang-btn")) {
      button.setAttribute("aria-pressed", String(button.dataset.lang === state.lang));
    }
    for (const option of $("report-by").options) option.textContent = t(`by_${option.value}`);
    const figure = $("report-figure");
    const chosen = figure.value || "contacts";
    figure.replaceChildren(...CHARTED.map((name) => new Option(t(`f_${name}`), name)));
    figure.value = chosen;
    if (state.me) $("whoami").textContent = t("signed_in_as", { name: state.me.name });
    sayStatus();
  }

  async function setLanguage(lang) {
    if (!words.LANGUAGES.includes(lang)) return;
    state.lang = await words.use(lang);
    try { localStorage.setItem(LANG_KEY, lang); } catch (_) { /* used, not remembered */ }
    applyStaticText();
    render();
  }

  // ---- the period ------------------------------------------------------------------------

  function isoDay(day) {
    const pad = (n) => String(n).padStart(2, "0");
    return `${day.getFullYear()}-${pad(day.getMonth() + 1)}-${pad(day.getDate())}`;
  }

  function dayBefore(text) {
    const [y, m, d] = text.split("-").map(Number);
    return isoDay(new Date(y, m - 1, d - 1));
  }

  function dayAfter(text) {
    const [y, m, d] = text.split("-").map(Number);
    return isoDay(new Date(y, m - 1, d + 1));
  }

  /** The query the pickers describe; the page's "to" is the last day, the API's the day after. */
  function query(withGrouping) {
    const from = $("report-from").value;
    const last = $("report-to").value;
    if (!from || !last || last < from) return null;
    const params = new URLSearchParams({ from, to: dayAfter(last) });
    if (withGrouping) {
      params.set("by", $("report-by").value);
      if ($("report-level").value !== "") params.set("service_level_s", $("report-level").value);
    }
    return params.toString();
  }

  function updateLinks() {
    const grouped = query(true);
    const plain = query(false);
    for (const [id, href] of [["report-csv", grouped && `/api/v1/reports.csv?${grouped}`],
                              ["requests-csv", plain && `/api/v1/reports/requests.csv?${plain}`]]) {
      if (href) $(id).href = href;
      else $(id).removeAttribute("href");
    }
  }

  // ---- the report ------------------------------------------------------------------------

  /** Shows the page's state; `words` is called again on a language switch, so a
   * "Loading…" said before the switch is said again in the new language. */
  function status(words, kind) {
    state.status = { words, kind: kind || "" };
    sayStatus();
  }

  function sayStatus() {
    if (!state.status) return;
    $("report-status").textContent = state.status.words();
    $("report-status").dataset.kind = state.status.kind;
  }

  async function load() {
    updateLinks();
    const unset = !$("report-from").value && !$("report-to").value;
    const asked = unset ? new URLSearchParams({ by: $("report-by").value }).toString()
      : query(true);
    if (!asked) {
      status(() => t("bad_period"), "error");
      return;
    }
    status(() => t("loading"));
    let response;
    try {
      response = await fetch(`/api/v1/reports?${asked}`,
                             { credentials: "same-origin", headers: { Accept: "application/json" } });
    } catch (_) {
      status(() => t("error_network"), "error");
      return;
    }
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    if (!response.ok) {
      status(() => t("failed", {
        reason: window.TaxiConnect.words.errorText(body, `HTTP ${response.status}`) }), "error");
      return;
    }
    if (unset) {
      $("report-from").value = body.from;
      $("report-to").value = dayBefore(body.to);
      updateLinks();
    }
    state.report = body;
    render();
  }

  function rowLabel(row, by) {
    if (by === "channel") return t(`channel_${row.key}`);
    if (by === "agent" && !row.key) return t("nobody");
    if (by === "lane") {
      const names = state.report.lanes[row.key];
      return names ? names[state.lang] || row.key : row.key;
    }
    if (by === "hour") return `${row.key}:00`;
    return row.label || row.key;
  }

  function number(value) {
    if (value === null || value === undefined) return "–";
    return Number(value).toLocaleString(state.lang === "fi" ? "fi-FI" : "en-GB",
                                        { maximumFractionDigits: 1 });
  }

  function cells(tag, values) {
    const row = document.createElement("tr");
    for (const value of values) {
      const cell = document.createElement(tag);
      cell.textContent = value;
      row.append(cell);
    }
    return row;
  }

  function render() {
    const report = state.report;
    if (!report) return;
    const by = report.by;
    const to = $("report-to").value || report.to;
    status(() => t("loaded", { count: report.totals.contacts, from: report.from, to }));
    $("report-head").replaceChildren(...cells("th", [t(`by_${by}`),
      ...FIGURES.map((name) => t(`f_${name}`))]).childNodes);
    $("report-rows").replaceChildren(...report.rows.map((row) => cells("td",
      [rowLabel(row, by), ...FIGURES.map((name) => number(row[name]))])));
    $("report-total").replaceChildren(cells("td",
      [t("total"), ...FIGURES.map((name) => number(report.totals[name]))]));
    const channels = Object.entries(report.first_response_by_channel)
      .map(([channel, seconds]) => `${t(`channel_${channel}`)} `
        + (seconds === null ? "–" : `${number(seconds)} s`));
    $("first-response").textContent = channels.length
      ? t("first_response_by_channel", { list: channels.join(", ") }) : "";
    const figure = $("report-figure").value || "contacts";
    const title = t("chart_title", { figure: t(`f_${figure}`), by: t(`by_${by}`).toLowerCase() });
    $("chart-heading").textContent = title;
    $("chart-card").hidden = false; // hidden until it has a title: no nameless region
    globalThis.TaxiReports.barChart($("report-chart"),
      report.rows.map((row) => ({ label: rowLabel(row, by), value: row[figure] })),
      { title, format: number });
  }

  // ---- start -----------------------------------------------------------------------------

  function show(view, reason) {
    $("reports-view").hidden = view !== "reports";
    $("denied-view").hidden = view !== "denied";
    $("whoami").hidden = !state.me;
    if (reason) $("denied-text").textContent = t(reason);
  }

  async function start() {
    state.lang = await words.use(initialLanguage());
    // The period is left to the hub at first: the last week up to today by the centre's
    // clock, which the pickers then show (the browser's own date may be another).
    $("report-by").value = "day";
    applyStaticText();
    for (const button of document.querySelectorAll(".lang-btn")) {
      button.addEventListener("click", () => setLanguage(button.dataset.lang));
    }
    $("reports-form").addEventListener("submit", (event) => {
      event.preventDefault();
      load();
    });
    for (const id of ["report-from", "report-to", "report-by", "report-level"]) {
      $(id).addEventListener("change", updateLinks);
    }
    $("report-figure").addEventListener("change", render);
    let response;
    try {
      response = await fetch("/api/v1/me", { credentials: "same-origin" });
    } catch (_) {
      show("denied", "error_network");
      return;
    }
    if (!response.ok) {
      show("denied", "not_signed_in");
      return;
    }
    state.me = (await response.json()).agent;
    applyStaticText();
    if (state.me.role === "external") {
      show("denied", "not_for_you");
      return;
    }
    show("reports");
    load();
  }

  start();
})();
