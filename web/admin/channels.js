/* Admin page, channel status: per enabled channel when a message last came in, the last reply
 * out and its delivery state, deliveries that failed in the last 24 hours with their latest
 * reasons, and the connection of pollers and PBX links. Refreshed every 10 s while shown.
 * API: GET /api/v1/admin/channels (dispatch/channel_status.py).
 */
"use strict";

(() => {
  const REFRESH_MS = 10_000;
  function createChannels({ t, api, el, $, lang }) {
    const state = { report: null, timer: null, loading: false };

    function locale() {
      return lang() === "fi" ? "fi-FI" : "en-GB";
    }

    /** "3 min ago", against the hub's clock (the browser's may be off). */
    function ago(iso) {
      const now = new Date(state.report.at).getTime();
      const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
      if (s < 10) return t("ago_now");
      if (s < 60) return t("ago_s", { n: s });
      if (s < 3600) return t("ago_min", { n: Math.floor(s / 60) });
      if (s < 86400) return t("ago_h", { n: Math.floor(s / 3600) });
      return t("ago_d", { n: Math.floor(s / 86400) });
    }

    function exact(iso) {
      return new Intl.DateTimeFormat(locale(), { dateStyle: "short", timeStyle: "medium" })
        .format(new Date(iso));
    }

    function time(iso, testid) {
      if (!iso) return el("span", { className: "muted", text: t("never"), testid });
      const node = el("time", { dateTime: iso, title: exact(iso), text: ago(iso), testid });
      return node;
    }

    async function load() {
      if (state.loading) return;
      state.loading = true;
      try {
        state.report = await api("GET", "/api/v1/admin/channels");
        $("channels-status").textContent = "";
      } catch (err) {
        if (err.status === 401) {
          deactivate();
          return;
        }
        $("channels-status").dataset.kind = "error";
        $("channels-status").textContent = t("failed", { reason: err.message });
      } finally {
        state.loading = false;
      }
      render();
    }

    function activate() {
      deactivate();
      load();
      state.timer = window.setInterval(() => {
        if (!document.hidden) load();
      }, REFRESH_MS);
    }

    function deactivate() {
      window.clearInterval(state.timer);
      state.timer = null;
    }

    function render() {
      const report = state.report;
      if (!report) return;
      $("channels-updated").textContent = t("channels_updated", { time: new Intl.DateTimeFormat(
        locale(), { timeStyle: "medium" }).format(new Date(report.at)) });
      const rows = report.channels.map(row);
      if (!rows.length) {
        rows.push(el("tr", {}, [el("td", { colSpan: 6, className: "muted",
          text: t("channels_none") })]));
      }
      $("channels-body").replaceChildren(...rows);
    }

    function label(name) {
      const key = `adapter_${name}`;
      return t.has(key) ? t(key) : name;
    }

    function row(channel) {
      const tr = el("tr", { testid: "channel-row" });
      tr.dataset.name = channel.name;
      tr.dataset.health = channel.health;
      const health = el("span", { className: `health health-${channel.health}`,
        text: t(`health_${channel.health}`), testid: "channel-health" });
      tr.append(
        el("td", {}, [el("strong", { text: label(channel.name) }), el("br"),
          el("span", { className: "muted mono", text: channel.name, translate: "no" })]),
        el("td", {}, [health]),
        el("td", {}, [time(channel.last_inbound_at, "channel-last-in")]),
        el("td", {}, outbound(channel)),
        el("td", {}, failed(channel)),
        el("td", { className: "channel-connection" }, connection(channel)));
      return tr;
    }

    function outbound(channel) {
      if (!channel.can_reply) return [el("span", { className: "muted", text: t("cannot_reply") })];
      const last = channel.last_outbound;
      if (!last) return [el("span", { className: "muted", text: t("never"),
        testid: "channel-last-out" })];
      const badge = el("span", { className: `badge delivery-${last.state}`,
        text: t(`delivery_${last.state}`), testid: "channel-last-out-state" });
      badge.dataset.state = last.state;
      const parts = [time(last.at, "channel-last-out"), " ", badge];
      if (last.attempts > 1) parts.push(" ", el("span", { className: "muted",
        text: t("attempts", { n: last.attempts }) }));
      return parts;
    }

    function failed(channel) {
      const found = channel.failed_24h;
      if (!found) return [el("span", { className: "muted", text: "–" })];
      const count = el("strong", { className: found.count ? "alert" : "", testid: "channel-failed",
        text: found.count ? String(found.count) : t("failed_none") });
      const reasons = el("ul", { className: "reasons plain", testid: "channel-reasons" },
        found.latest.map((entry) => el("li", {}, [time(entry.at), ": ",
          el("span", { text: entry.reason })])));
      return found.latest.length ? [count, reasons] : [count];
    }

    function connection(channel) {
      const parts = [];
      const imap = channel.adapter?.imap;
      if (imap) {
        parts.push(el("p", { className: imap.connected ? "ok" : "alert", testid: "channel-imap",
          text: t(imap.connected ? "imap_connected" : "imap_disconnected",
            { mailbox: imap.mailbox }) }),
        el("p", { className: "muted", text: t("imap_counts", imap) }));
        if (imap.last_error) {
          parts.push(el("p", { className: imap.connected ? "muted" : "alert",
            testid: "channel-imap-error", text: t("imap_error", {
              ago: imap.last_error_at ? ago(imap.last_error_at) : "", error: imap.last_error,
            }) }));
        }
      }
      const ami = channel.adapter?.ami;
      if (ami) {
        parts.push(el("p", { className: ami.logged_in ? "ok" : "alert",
          text: t(ami.logged_in ? "ami_in" : "ami_out") }),
        el("p", { className: "muted", text: t("ami_counts", ami) }));
      }
      if (!parts.length) parts.push(el("span", { className: "muted", text: t("webhook_only") }));
      return parts;
    }

    // A hidden tab need not ask every 10 s; back in sight, it asks at once.
    document.addEventListener("visibilitychange", () => {
      if (state.timer === null) return;
      if (document.visibilityState === "visible") load();
    });

    return { activate, deactivate, render };
  }

  const admin = globalThis.TaxiAdmin || (globalThis.TaxiAdmin = { sections: {} });
  admin.sections.channels = createChannels;
})();
