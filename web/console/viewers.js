// Who else has the open request on screen, and who is writing on it (dispatch/viewers.py).
//
// While a request is open this console says so every REFRESH_MS, and at once when its
// dispatcher starts or stops typing in the composer; colleagues' changes arrive as presence
// frames {type: "request.viewers", request_id, viewers: [{id, name, typing, until}]}.
(() => {
  "use strict";

  const REFRESH_MS = 15000; // dispatch/viewers.py REFRESH_S
  const TYPING_IDLE_MS = 5000; // no keystroke this long: no longer typing
  const WATCH_MS = 1000; // how often the open request is looked at

  function createViewers({ t, api, me, selected }) {
    const byRequest = new Map(); // request id -> viewers as last announced
    let shown = null; // the request this console says it views
    let typing = false;
    let idle = null;
    let refresh = null;

    function say(id, on) {
      if (!id) return;
      api("PUT", `/api/v1/requests/${encodeURIComponent(id)}/viewers/me`, { typing: on })
        .then((data) => { if (data && Array.isArray(data.viewers)) keep(id, data.viewers); })
        .catch(() => {}); // a lost announcement is repeated at the next refresh
    }

    function unsay(id) {
      if (id) api("DELETE", `/api/v1/requests/${encodeURIComponent(id)}/viewers/me`).catch(() => {});
    }

    function watch() {
      const id = me() && me().role !== "external" ? selected() : null;
      if (id === shown) return;
      unsay(shown);
      shown = id;
      typing = false;
      window.clearInterval(refresh);
      refresh = null;
      if (id) {
        say(id, false);
        refresh = window.setInterval(() => say(shown, typing), REFRESH_MS);
      }
      render();
    }

    function onInput(event) {
      if (!shown || !event.target.closest?.("#composer-form")) return;
      if (!typing) {
        typing = true;
        say(shown, true);
      }
      window.clearTimeout(idle);
      idle = window.setTimeout(() => { typing = false; say(shown, false); }, TYPING_IDLE_MS);
    }

    function keep(id, viewers) {
      byRequest.set(id, viewers);
      if (id === shown) render();
    }

    function apply(event) {
      if (event.type !== "request.viewers" || typeof event.request_id !== "string"
          || !Array.isArray(event.viewers)) return false;
      keep(event.request_id, event.viewers);
      return true;
    }

    function render() {
      let box = document.getElementById("detail-viewers");
      const anchor = document.getElementById("detail-reference");
      if (!box && anchor) {
        box = document.createElement("p");
        box.id = "detail-viewers";
        box.className = "detail-viewers";
        box.dataset.testid = "detail-viewers";
        box.setAttribute("aria-live", "polite");
        anchor.closest("h2")?.after(box);
      }
      if (!box) return;
      const mine = me()?.id;
      const now = Date.now() / 1000;
      const others = (byRequest.get(shown) || [])
        .filter((v) => v.id !== mine && Number(v.until) > now);
      box.hidden = others.length === 0;
      // Each name in a <bdi> of its own: a name's direction stays inside it.
      const names = others.flatMap((v, n) => [n ? ", " : "", bdi(v.name),
        v.typing ? ` (${t("viewers_typing")})` : ""]);
      box.replaceChildren(...(others.length === 0 ? [] : [`${t("viewers_also")} `, ...names]));
    }

    function bdi(text) {
      const node = document.createElement("bdi");
      node.textContent = String(text ?? "");
      return node;
    }

    document.addEventListener("input", onInput);
    window.setInterval(() => { watch(); render(); }, WATCH_MS);
    window.addEventListener("pagehide", () => unsay(shown));
    return { apply, render };
  }

  window.TaxiConnect = Object.assign(window.TaxiConnect || {}, { createViewers });
})();
