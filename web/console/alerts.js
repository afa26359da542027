/* Channel alerts for admins: a banner under the top bar while a channel is down, keeps
 * failing its deliveries, or stays quiet past its window (GET /api/v1/alerts, admins only;
 * dispatch/channel_alerts.py raises and clears them). Standalone beside console.js: it
 * knows an admin by the admin link console.js shows them, so team and external consoles
 * never call the admins' route, and it follows the language console.js puts on <html lang>.
 */
"use strict";

(() => {
  // An admin's console asks this often (one Redis read at the hub); team and external
  // consoles never ask.
  const ALERTS_EVERY_MS = 5 * 1000;
  const LOCALES = { fi: "fi-FI", en: "en-GB" };
  let shown = [];

  function lang() {
    return document.documentElement.lang === "en" ? "en" : "fi";
  }

  const say = window.TaxiConnect.words.scope("alerts");

  function banner() {
    let bar = document.getElementById("channel-alerts");
    if (!bar) {
      bar = document.createElement("section");
      bar.id = "channel-alerts";
      bar.setAttribute("role", "alert");
      bar.dataset.testid = "channel-alerts";
      Object.assign(bar.style, { background: "#b3261e", color: "#fff", padding: "6px 12px",
        fontWeight: "600" });
      const top = document.querySelector("header.topbar");
      if (top) top.after(bar);
      else document.body.prepend(bar);
    }
    return bar;
  }

  function render() {
    if (!shown.length && !document.getElementById("channel-alerts")) return;
    const bar = banner();
    bar.hidden = shown.length === 0;
    bar.replaceChildren();
    if (!shown.length) return;
    bar.setAttribute("aria-label", say("alerts_title", {}));
    const format = new Intl.DateTimeFormat(LOCALES[lang()],
      { day: "numeric", month: "numeric", hour: "2-digit", minute: "2-digit" });
    for (const alert of shown) {
      const line = document.createElement("p");
      line.style.margin = "0";
      line.dataset.testid = `channel-alert-${alert.adapter}-${alert.kind}`;
      line.textContent = say(`alert_${alert.kind}`,
        { adapter: alert.adapter, since: format.format(new Date(alert.since)) });
      bar.append(line);
    }
  }

  async function get(path) {
    const resp = await fetch(path, { credentials: "same-origin",
      headers: { Accept: "application/json" } });
    return { status: resp.status, data: resp.ok ? await resp.json() : null };
  }

  function isAdmin() {
    const link = document.getElementById("admin-link"); // console.js shows it to admins only
    return Boolean(link && !link.hidden);
  }

  async function refresh() {
    if (!isAdmin()) {
      shown = [];
      render();
      return;
    }
    try {
      const found = await get("/api/v1/alerts");
      shown = found.status === 200 ? found.data.alerts : [];
      render();
    } catch (err) {
      // Offline for a moment: the connection badge tells; the banner keeps what it knew.
    }
  }

  async function watch() {
    // Logging in or out shows or hides the admin link: look at once, then every few seconds.
    const link = document.getElementById("admin-link");
    if (link) {
      new MutationObserver(refresh).observe(link, { attributes: true,
        attributeFilter: ["hidden"] });
    }
    for (;;) {
      await refresh();
      await new Promise((done) => setTimeout(done, ALERTS_EVERY_MS));
    }
  }

  // The language toggle rewrites <html lang>: say the same alerts in the other language.
  new MutationObserver(() => { if (shown.length) render(); })
    .observe(document.documentElement, { attributes: true, attributeFilter: ["lang"] });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", watch);
  else watch();
})();
