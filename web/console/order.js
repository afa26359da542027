/* "Send order" in the request pane: a request whose details carry an order (pickup address and
 * time) can be sent to the company's dispatch system now. POST /api/v1/requests/{id}/order
 * sends it as the webhook order.ready (signed, retried by the hub); GET .../order tells which
 * endpoints take orders (none: no button) and how the request's orders went, which is shown
 * under the button and asked again every few seconds while the newest one is on its way.
 *
 * `show(request)` is called on every render of the pane; the box is built once, kept across
 * renders, and placed under the request's details.
 */
"use strict";

(() => {
  const POLL_MS = 1500;
  const POLL_FOR_MS = 60000; // after a send or an open: long enough for a few retries

  function hasOrder(request) {
    const details = request?.details || {};
    return Boolean(details.pickup_address) && Boolean(details.pickup_time);
  }

  function createOrder({ t, api, el, formatDateTime }) {
    document.head.append(el("link", { rel: "stylesheet", href: "/static/console/order.css" }));
    const state = { requestId: null, version: null, endpoints: null, deliveries: [],
      busy: false, error: null, pollUntil: 0, timer: null, seq: 0 };
    let ui = null;

    function build() {
      const facts = document.getElementById("detail-facts");
      if (!facts) return null;
      const made = {
        button: el("button", { type: "button", "data-testid": "order-send" }),
        status: el("p", { className: "order-status", role: "status",
          "data-testid": "order-status" }),
        error: el("p", { className: "action-error", role: "alert",
          "data-testid": "order-error" }),
      };
      made.box = el("div", { className: "order-box", "data-testid": "order-box", hidden: true },
        made.button, made.status, made.error);
      made.button.addEventListener("click", send);
      facts.after(made.box);
      return made;
    }

    /** The newest order's state across the endpoints it went to. */
    function newest() {
      const first = state.deliveries[0];
      if (!first) return null;
      const rows = state.deliveries.filter((row) => row.event_id === first.event_id);
      const failed = rows.find((row) => row.state === "failed");
      const waiting = rows.find((row) => row.state === "pending");
      const reason = (row) => row.last_error
        || (row.last_status ? `http ${row.last_status}` : t("order_no_answer"));
      let line;
      if (failed) line = t("order_failed", { reason: reason(failed) });
      else if (waiting && waiting.attempts > 0) {
        line = t("order_failing", { reason: reason(waiting) });
      } else if (waiting) line = t("order_pending");
      else {
        const at = rows.map((row) => row.finished_at).filter(Boolean).sort().pop();
        line = t("order_delivered", { at: at ? formatDateTime(at) : "" });
      }
      return { state: failed ? "failed" : waiting ? "pending" : "delivered",
        text: `${t("order_sent", { at: formatDateTime(first.created_at) })} ${line}` };
    }

    function render(request) {
      if (!ui) ui = build();
      if (!ui) return;
      ui.box.hidden = !hasOrder(request) || !state.endpoints?.length
        || request.id !== state.requestId;
      ui.button.textContent = state.busy ? t("order_sending") : t("order_send");
      ui.button.disabled = state.busy;
      const shown = newest();
      ui.status.textContent = shown ? shown.text : "";
      ui.box.dataset.state = shown ? shown.state : "";
      ui.box.dataset.event = state.deliveries[0]?.event_id || "";
      ui.error.textContent = state.error ? t(state.error.key, state.error.values) : "";
    }

    async function load(id) {
      const seq = ++state.seq;
      clearTimeout(state.timer);
      try {
        const { data } = await api("GET", `/api/v1/requests/${encodeURIComponent(id)}/order`);
        if (seq !== state.seq || id !== state.requestId) return;
        state.endpoints = data.endpoints || [];
        state.deliveries = data.deliveries || [];
      } catch (_) {
        if (seq !== state.seq || id !== state.requestId) return;
      }
      render(current);
      if (newest()?.state === "pending" && Date.now() < state.pollUntil) {
        state.timer = setTimeout(() => { if (id === state.requestId) load(id); }, POLL_MS);
      }
    }

    async function send() {
      const id = state.requestId;
      if (!id || state.busy) return;
      state.busy = true;
      state.error = null;
      render(current);
      try {
        await api("POST", `/api/v1/requests/${encodeURIComponent(id)}/order`);
        state.pollUntil = Date.now() + POLL_FOR_MS;
      } catch (err) {
        const code = err.body?.code;
        state.error = code === "no_endpoint" || code === "no_order" ? { key: `order_${code}` }
          : { key: "order_error", values: { reason: err.message } };
      } finally {
        state.busy = false;
      }
      if (id === state.requestId) load(id);
    }

    let current = null;

    /** Called on every render of the pane, with the request shown (null: none). */
    function show(request) {
      current = request;
      if (!request) {
        if (ui) ui.box.hidden = true;
        return;
      }
      if (request.id !== state.requestId) {
        clearTimeout(state.timer);
        Object.assign(state, { requestId: request.id, version: request.version,
          endpoints: null, deliveries: [], error: null, busy: false,
          pollUntil: Date.now() + POLL_FOR_MS });
        if (hasOrder(request)) load(request.id);
      } else if (request.version !== state.version) {
        // Changed meanwhile (an order sent from another console among others): ask again.
        state.version = request.version;
        if (hasOrder(request)) {
          state.pollUntil = Math.max(state.pollUntil, Date.now() + POLL_FOR_MS);
          load(request.id);
        }
      }
      render(request);
    }

    return { show };
  }

  window.TaxiConnect = Object.assign(window.TaxiConnect || {}, { createOrder });
})();
