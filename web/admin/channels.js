/* Admin page, channel status: per enabled channel when a message last came in, the last reply
 * out and its delivery state, deliveries that failed in the last 24 hours with their latest
 * reasons, and the connection of pollers and PBX links. Refreshed every 10 s while shown.
 * API: GET /api/v1/admin/channels (dispatch/channel_status.py).
 */
"use strict";

(() => {
  const REFRESH_MS = 10_000;
  const WORDS = {
    fi: {
      channels_title: "Kanavien tila",
      channels_updated: "Päivitetty {time} · päivittyy 10 sekunnin välein",
      channels_none: "Yhtään kanavaa ei ole otettu käyttöön.",
      col_channel: "Kanava",
      col_last_in: "Viimeisin saapunut",
      col_last_out: "Viimeisin lähetetty",
      col_failed: "Epäonnistuneet 24 h",
      col_connection: "Yhteys",
      health_ok: "Kunnossa",
      health_warning: "Huomio",
      health_error: "Vikaa",
      never: "ei vielä",
      cannot_reply: "ei lähetä vastauksia",
      ago_now: "juuri nyt",
      ago_s: "{n} s sitten",
      ago_min: "{n} min sitten",
      ago_h: "{n} h sitten",
      ago_d: "{n} pv sitten",
      delivery_queued: "Jonossa",
      delivery_sent: "Lähetetty",
      delivery_delivered: "Toimitettu",
      delivery_failed: "Epäonnistui",
      attempts: "{n}. yritys",
      failed_none: "ei yhtään",
      imap_connected: "IMAP yhdistetty ({mailbox})",
      imap_disconnected: "IMAP ei yhteyttä ({mailbox})",
      imap_counts: "{taken} noudettu · {refused} hylätty · {errors} virhettä",
      imap_error: "Viimeisin virhe {ago}: {error}",
      ami_in: "Asterisk kirjautunut",
      ami_out: "Asterisk ei kirjautunut",
      ami_counts: "{connects} yhteyttä · {lost} katkennut",
      webhook_only: "vastaanottaa webhookeja",
      adapter_twilio_sms: "Tekstiviesti (Twilio)",
      adapter_vonage_sms: "Tekstiviesti (Vonage)",
      adapter_generic_sms: "Tekstiviesti (yhdyskäytävä)",
      adapter_email: "Sähköposti",
      adapter_phone_cti: "Puhelin (CTI)",
      adapter_twilio_voice: "Puhelin (Twilio)",
      adapter_asterisk_ami: "Puhelin (Asterisk)",
      adapter_chat: "Chat",
      adapter_webform: "Verkkolomake",
    },
    en: {
      channels_title: "Channel status",
      channels_updated: "Updated {time} · refreshes every 10 seconds",
      channels_none: "No channel is enabled.",
      col_channel: "Channel",
      col_last_in: "Last message in",
      col_last_out: "Last reply out",
      col_failed: "Failed in 24 h",
      col_connection: "Connection",
      health_ok: "OK",
      health_warning: "Attention",
      health_error: "Fault",
      never: "not yet",
      cannot_reply: "sends no replies",
      ago_now: "just now",
      ago_s: "{n} s ago",
      ago_min: "{n} min ago",
      ago_h: "{n} h ago",
      ago_d: "{n} d ago",
      delivery_queued: "Queued",
      delivery_sent: "Sent",
      delivery_delivered: "Delivered",
      delivery_failed: "Failed",
      attempts: "attempt {n}",
      failed_none: "none",
      imap_connected: "IMAP connected ({mailbox})",
      imap_disconnected: "IMAP not connected ({mailbox})",
      imap_counts: "{taken} taken · {refused} refused · {errors} errors",
      imap_error: "Last error {ago}: {error}",
      ami_in: "Asterisk logged in",
      ami_out: "Asterisk not logged in",
      ami_counts: "{connects} connects · {lost} lost",
      webhook_only: "receives webhooks",
      adapter_twilio_sms: "SMS (Twilio)",
      adapter_vonage_sms: "SMS (Vonage)",
      adapter_generic_sms: "SMS (gateway)",
      adapter_email: "Email",
      adapter_phone_cti: "Phone (CTI)",
      adapter_twilio_voice: "Phone (Twilio)",
      adapter_asterisk_ami: "Phone (Asterisk)",
      adapter_chat: "Chat",
      adapter_webform: "Web form",
    },
  };

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
      return WORDS.en[key] ? t(key) : name;
    }

    function row(channel) {
      const tr = el("tr", { testid: "channel-row" });
      tr.dataset.name = channel.name;
      tr.dataset.health = channel.health;
      const health = el("span", { className: `health health-${channel.health}`,
        text: t(`health_${channel.health}`), testid: "channel-health" });
      tr.append(
        el("td", {}, [el("strong", { text: label(channel.name) }), el("br"),
          el("span", { className: "muted mono", text: channel.name })]),
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

    return { words: WORDS, activate, deactivate, render };
  }

  const admin = globalThis.TaxiAdmin || (globalThis.TaxiAdmin = { sections: {} });
  admin.sections.channels = createChannels;
})();
