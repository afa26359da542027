/* Group messages in the console (dispatch/groups_api.py).
 *
 * "Group message" in the header opens a dialog: the group (with how many members it reaches
 * by SMS and by email), the channels, a subject for email, the text with its SMS segment
 * count (segments.js, as channels/sms/segments.py counts) times the recipients. One client
 * key per message, kept while the dispatcher retries, so a resend after a lost answer sends
 * nothing twice. Once sent, the thread opens: it is an ordinary request, claimed by the
 * sender, that members' answers join.
 *
 * In the thread, a group message's deliveries are too many for a badge each: console.js asks
 * `deliveries(message, item)` for a summary instead (counts by state, the recipients not
 * reached with the reason, and every recipient by name behind a disclosure that stays open
 * across live updates); `sender(request, message)` names the member an answer came from.
 * External users never see the button: the hub answers them 403.
 */
"use strict";

(() => {
  const STATES = ["failed", "queued", "sent", "delivered"]; // the list's order: trouble first
  const WATCH_MS = 1000;

  const SVG_NS = "http://www.w3.org/2000/svg";

  function peopleIcon() {
    const svg = document.createElementNS(SVG_NS, "svg");
    for (const [name, value] of [["viewBox", "0 0 24 24"], ["aria-hidden", "true"],
      ["focusable", "false"], ["class", "icon"]]) svg.setAttribute(name, value);
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", "M9 11a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM3 20c0-3.3 2.7-6 6-6s6 2.7 6 6"
      + "M16 11a2.5 2.5 0 1 0 0-5M18 14.5c1.8.7 3 2.6 3 5.5");
    svg.append(path);
    return svg;
  }

  function createGroups({ t, api, el, me, open, announce }) {
    const head = document.head;
    if (!document.querySelector('link[href="/static/console/groups.css"]')) {
      head.append(el("link", { rel: "stylesheet", href: "/static/console/groups.css" }));
    }
    const state = { groups: [], key: null, sending: false, expanded: new Set() };

    // The header is full on a 1366-pixel laptop: there the button is its pictogram (named for
    // screen readers and on hover), on a wider screen it says its name too.
    const openButton = el("button", { type: "button", className: "quiet icon-button group-open",
      id: "group-open", hidden: true, "aria-haspopup": "dialog", "data-testid": "group-open",
      "data-i18n-label": "group_open", "data-i18n-title": "group_open_title",
      "aria-label": t("group_open"), title: t("group_open_title") }, peopleIcon(),
    el("span", { className: "group-open-label", "data-i18n": "group_open" }, t("group_open")));
    document.querySelector(".topbar-end")?.prepend(openButton);

    const field = (id, label, control) => el("div", { className: "field" },
      el("label", { for: id, "data-i18n": label }, t(label)), control);
    const pick = el("select", { id: "group-pick", "data-testid": "group-pick" });
    const sms = el("input", { type: "checkbox", id: "group-sms", "data-testid": "group-sms" });
    const email = el("input", { type: "checkbox", id: "group-email",
      "data-testid": "group-email" });
    const smsLabel = el("span", {});
    const emailLabel = el("span", {});
    const subject = el("input", { id: "group-subject", maxlength: "200", autocomplete: "off",
      "data-testid": "group-subject", "data-i18n-placeholder": "group_subject_hint" });
    const subjectField = field("group-subject", "group_subject", subject);
    const text = el("textarea", { id: "group-text", rows: "5", maxlength: "1600",
      "data-testid": "group-text", "aria-describedby": "group-counter group-error" });
    const counter = el("p", { className: "group-counter", id: "group-counter",
      "data-testid": "group-counter" });
    const error = el("p", { className: "action-error", id: "group-error", role: "alert",
      "data-testid": "group-error" });
    const send = el("button", { type: "submit", className: "primary", id: "group-send",
      "data-testid": "group-send", "data-i18n": "group_send" }, t("group_send"));
    const cancel = el("button", { type: "button", className: "quiet", "data-i18n":
      "group_cancel" }, t("group_cancel"));
    const form = el("form", { className: "group-form", novalidate: true },
      field("group-pick", "group_pick", pick),
      el("fieldset", { className: "group-channels" },
        el("legend", { "data-i18n": "group_channels" }, t("group_channels")),
        el("label", { className: "check" }, sms, smsLabel),
        el("label", { className: "check" }, email, emailLabel)),
      subjectField, field("group-text", "group_text", text), counter, error,
      el("div", { className: "row end" }, cancel, send));
    const dialog = el("dialog", { className: "group-dialog", id: "group-dialog",
      "aria-labelledby": "group-dialog-title", "data-testid": "group-dialog" },
    el("h2", { id: "group-dialog-title", "data-i18n": "group_title" }, t("group_title")), form);
    document.body.append(dialog);

    function chosen() {
      return state.groups.find((group) => group.id === pick.value) || null;
    }

    function channels() {
      return [sms.checked ? "sms" : null, email.checked ? "email" : null].filter(Boolean);
    }

    /** The counts beside the channels and under the text follow the group and the text. */
    function render() {
      const group = chosen();
      smsLabel.textContent = t("group_sms", { count: group ? group.phones : 0 });
      emailLabel.textContent = t("group_email", { count: group ? group.emails : 0 });
      sms.disabled = !group || group.phones === 0;
      email.disabled = !group || group.emails === 0;
      if (sms.disabled) sms.checked = false;
      if (email.disabled) email.checked = false;
      subjectField.hidden = !email.checked;
      const body = text.value;
      const found = window.TaxiConnect.countSegments(body);
      const parts = [];
      if (sms.checked) {
        parts.push(t("group_count", { chars: [...body].length,
          segments: t("group_segments", { count: found.count }),
          encoding: found.encoding === "gsm7" ? "GSM-7" : "UCS-2" }));
      }
      const recipients = (sms.checked ? group.phones : 0) + (email.checked ? group.emails : 0);
      if (recipients) {
        parts.push(sms.checked ? t("group_total", { n: recipients,
          messages: group.phones * Math.max(found.count, 1) }) : t("group_total_mail",
          { count: recipients }));
      }
      counter.textContent = parts.join(" · ");
      send.disabled = state.sending;
      send.textContent = t(state.sending ? "group_sending" : "group_send");
    }

    async function show() {
      error.textContent = "";
      if (!dialog.open) dialog.showModal();
      render(); // in the console's language now, while the groups load
      state.key ||= newKey();
      try {
        const { data } = await api("GET", "/api/v1/groups");
        state.groups = data.groups || [];
      } catch (err) {
        error.textContent = t("group_failed", { reason: err.message });
      }
      const before = pick.value;
      pick.replaceChildren(...state.groups.map((group) => el("option", { value: group.id },
        t("group_members", { name: group.name, count: group.members }))));
      if (state.groups.some((group) => group.id === before)) pick.value = before;
      if (!state.groups.length) error.textContent = t("group_none");
      else if (!channels().length) {
        const group = chosen();
        sms.checked = Boolean(group && group.phones);
        email.checked = Boolean(group && !group.phones && group.emails);
      }
      render();
      (state.groups.length ? text : cancel).focus();
    }

    async function onSubmit(event) {
      event.preventDefault();
      const group = chosen();
      const body = text.value.trim();
      const missing = !group ? "group_need_group" : !channels().length ? "group_need_channel"
        : !body ? "group_need_text" : null;
      if (missing) {
        error.textContent = t(missing);
        return;
      }
      error.textContent = "";
      state.sending = true;
      render();
      try {
        const { data } = await api("POST",
          `/api/v1/groups/${encodeURIComponent(group.id)}/messages`, {
            body, channels: channels(), client_key: state.key,
            subject: email.checked && subject.value.trim() ? subject.value.trim() : undefined,
          });
        state.key = null; // sent: the next message is a new one
        text.value = "";
        subject.value = "";
        dialog.close();
        announce(t("group_sent", { name: group.name, count: data.group_message.recipients }));
        if (data.request?.id) open(data.request.id);
      } catch (err) {
        if (err.status !== 401) error.textContent = t("group_failed", { reason: err.message });
      } finally {
        state.sending = false;
        render();
      }
    }

    function newKey() {
      return globalThis.crypto?.randomUUID?.()
        || `g-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
    }

    openButton.addEventListener("click", show);
    cancel.addEventListener("click", () => dialog.close());
    form.addEventListener("submit", onSubmit);
    for (const control of [pick, sms, email]) control.addEventListener("change", render);
    text.addEventListener("input", render);
    window.setInterval(() => {
      const allowed = Boolean(me()) && me().role !== "external";
      openButton.hidden = !allowed;
      if (!allowed && dialog.open) dialog.close();
    }, WATCH_MS);

    // ---- the thread ------------------------------------------------------------------------

    /** A group message's deliveries as a summary; undefined for any other message. */
    function deliveries(message, item) {
      const group = message.details?.group;
      if (message.direction !== "outbound" || !group) return undefined;
      const list = Array.isArray(message.deliveries) ? message.deliveries : [];
      const names = message.details.recipients || {};
      const counts = new Map(STATES.map((s) => [s, 0]));
      for (const delivery of list) counts.set(delivery.state, (counts.get(delivery.state) || 0) + 1);
      const badges = STATES.filter((s) => counts.get(s)).map((s) => el("span", {
        className: `badge delivery-${s}`, "data-testid": "group-count", "data-state": s },
      `${t(`delivery_${s}`)} ${counts.get(s)}`));
      const row = (delivery) => el("li", { className: "group-recipient",
        "data-testid": "group-recipient", "data-state": delivery.state },
      el("bdi", { className: "group-recipient-name" }, names[delivery.recipient] || ""),
      el("bdi", { className: "group-recipient-address num" },
        window.TaxiConnect.formatPhone(delivery.recipient || "")),
      el("ul", { className: "deliveries" }, item(delivery)));
      const ordered = [...list].sort((a, b) => (STATES.indexOf(a.state) - STATES.indexOf(b.state))
        || String(names[a.recipient] || "").localeCompare(String(names[b.recipient] || "")));
      const failed = ordered.filter((delivery) => delivery.state === "failed");
      const all = el("details", { className: "group-all", "data-testid": "group-recipients" },
        el("summary", {}, t("group_show_all", { n: list.length })),
        el("ul", { className: "group-recipient-list" }, ordered.map(row)));
      all.open = state.expanded.has(message.id);
      all.addEventListener("toggle", () => {
        if (all.open) state.expanded.add(message.id);
        else state.expanded.delete(message.id);
      });
      return el("div", { className: "group-deliveries", "data-testid": "group-deliveries",
        "aria-label": t("delivery") },
      el("p", { className: "group-counts", "data-testid": "group-counts" },
        el("span", { className: "muted" }, t("group_recipients", { count: list.length })), badges),
      failed.length ? el("div", { className: "group-failed" },
        el("p", { className: "group-failed-title" }, t("group_not_reached")),
        el("ul", { className: "group-recipient-list", "data-testid": "group-failed" },
          failed.map(row))) : null,
      all);
    }

    /** Who an answer in a group thread came from: the member's name by their number or
     * address, as the group message listed them, as nodes (the name isolated in its <bdi>);
     * null outside group threads. */
    function sender(request, message) {
      if (message.direction === "outbound" || !request.details?.group_id) return null;
      const from = message.details?.from;
      if (!from) return null;
      const shown = window.TaxiConnect.formatPhone(String(from));
      for (const sent of request.messages || []) {
        const name = sent.details?.group && sent.details.recipients?.[from];
        if (name) return [el("bdi", {}, name), ` (${shown})`];
      }
      return shown;
    }

    return { deliveries, sender };
  }

  window.TaxiConnect = Object.assign(window.TaxiConnect || {}, { createGroups });
})();
