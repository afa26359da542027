/* Keyboard shortcuts for a dispatcher who works the queue all shift with the hands on the
 * keys, and the overlay that lists them (press ?).
 *
 * A shortcut never fires while the dispatcher types (an input, a textarea, a select, anything
 * editable) or with Ctrl, Alt or Meta held: the composer's own Ctrl+Enter and the browser's
 * shortcuts stay theirs.
 */
"use strict";

(() => {
  // key -> [action, word key]; the overlay lists them in this order.
  const KEYS = [
    [["j", "ArrowDown"], "down", "keys_down"],
    [["k", "ArrowUp"], "up", "keys_up"],
    [["Enter"], "open", "keys_open"],
    [["c"], "claim", "keys_claim"],
    [["a"], "accept", "keys_accept"],
    [["x"], "decline", "keys_decline"],
    [["r"], "reply", "keys_reply"],
    [["e"], "resolve", "keys_resolve"],
    [["n"], "next", "keys_next"],
    [["/"], "search", "keys_search"],
    [["?"], "help", "keys_help"],
  ];
  const SHOWN = { ArrowDown: "↓", ArrowUp: "↑" };
  const TYPING = "input, textarea, select, [contenteditable]:not([contenteditable='false'])";
  // Keys that a focused button or link already answers (Enter clicks it): left to it.
  const NATIVE = "button, a[href], summary, audio, video";

  const FOCUS_WAIT_MS = 2000; // how long "r" waits for the composer of a request it opened

  /** Make the shortcuts. From console.js: `t`, `el`; `active()` whether the console shows
   * (not the login); `selected()` the open request's id; `open(id)` opens one; `act(action)`
   * runs a detail action on the open request; `list()` the requests the queue shows, in its
   * order; `offerOf(request)` its live offer; `focusSearch()`. */
  function createShortcuts({ t, el, active, selected, open, act, list, offerOf, focusSearch }) {
    const $ = (id) => document.getElementById(id);
    const byKey = new Map(KEYS.flatMap(([keys, action]) => keys.map((key) => [key, action])));

    // ---- the actions -----------------------------------------------------------------------

    function rows() {
      return [...$("queue-body").querySelectorAll("tr[data-request-id]")];
    }

    function focusRow(tr) {
      tr.querySelector(".row-open")?.focus();
      tr.scrollIntoView({ block: "nearest" });
    }

    /** The request the keys act on: the row with focus, else the open request. */
    function current() {
      const focused = document.activeElement?.closest?.("#queue-body tr[data-request-id]");
      return focused ? focused.dataset.requestId : selected();
    }

    function move(delta) {
      const all = rows();
      if (!all.length) return false;
      const at = all.findIndex((tr) => tr.dataset.requestId === current());
      const to = at < 0 ? (delta > 0 ? 0 : all.length - 1)
        : Math.min(all.length - 1, Math.max(0, at + delta));
      focusRow(all[to]);
      return true;
    }

    function openCurrent() {
      const id = current();
      if (!id) return false;
      open(id);
      return true;
    }

    /** Open the request (if it is not) and run the action its button offers, if it does. */
    function perform(action, id) {
      if (!id) return false;
      if (id !== selected()) open(id);
      const button = $(`action-${action}`);
      if (!button || button.hidden || button.disabled) return false;
      act(action);
      return true;
    }

    function reply() {
      const id = current();
      if (!id) return false;
      if (id !== selected()) open(id);
      const until = performance.now() + FOCUS_WAIT_MS;
      const attempt = () => {
        const text = $("composer-text");
        if (selected() !== id) return;
        if (text && !text.disabled && text.offsetParent !== null) {
          text.focus();
        } else if (performance.now() < until) {
          window.requestAnimationFrame(attempt);
        }
      };
      attempt();
      return true;
    }

    /** The next request nobody holds or is offered, after the open one, round the queue. */
    function next() {
      const free = list().filter((request) => !request.assigned_agent
        && !(offerOf(request) && !offerOf(request).mine));
      if (!free.length) return false;
      const at = free.findIndex((request) => request.id === selected());
      const chosen = free[(at + 1) % free.length];
      open(chosen.id);
      const tr = rows().find((row) => row.dataset.requestId === chosen.id);
      if (tr) focusRow(tr);
      return true;
    }

    const actions = {
      down: () => move(1),
      up: () => move(-1),
      open: openCurrent,
      claim: () => perform("claim", current()),
      reply,
      resolve: () => perform("resolve", selected()),
      next,
      search: () => { focusSearch(); return true; },
      accept: () => answerOffer("offer-accept"),
      decline: () => answerOffer("offer-decline"),
    };

    /** The first offer in the dock under the queue (queue.js), answered by its own button:
     * the same request and the same path as a click, wherever the focus is. */
    function answerOffer(testid) {
      const button = document.querySelector(
        `#offer-dock [data-testid="${testid}"]:not(:disabled)`);
      if (!button) return false;
      button.click();
      return true;
    }

    function kbd(key) {
      return el("kbd", { translate: "no" }, SHOWN[key] || key); // key caps, as printed
    }

    function renderHelp() {
      const rows = KEYS.map(([keys, , word]) => el("tr", {},
        el("th", { scope: "row" }, keys.flatMap((key, n) => (n ? [` ${t("keys_or")} `, kbd(key)]
          : [kbd(key)]))),
        el("td", {}, t(word))));
      rows.push(el("tr", {}, el("th", { scope: "row" }, kbd("Ctrl"), "+", kbd("Enter")),
        el("td", {}, t("keys_send"))));
      $("keys-list").replaceChildren(...rows);
    }

    function showHelp() {
      const dialog = $("keys-help");
      if (dialog.open) return;
      renderHelp();
      dialog.showModal();
    }

    function onKey(event) {
      if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey) return;
      if (!active() || $("keys-help").open) return;
      const target = event.target instanceof Element ? event.target : null;
      if (target?.closest(TYPING)) return;
      const action = byKey.get(event.key);
      if (!action) return;
      if (action === "open" && target?.closest(NATIVE)) return;
      // Arrows scroll whatever has focus; they move in the queue only from the queue itself
      // or from nowhere in particular.
      if (event.key.startsWith("Arrow") && target && target !== document.body
          && !target.closest("#queue-body")) return;
      if (action === "help") {
        event.preventDefault();
        showHelp();
        return;
      }
      if (actions[action]() !== false) event.preventDefault();
    }

    document.addEventListener("keydown", onKey);
    $("keys-toggle").addEventListener("click", showHelp);
    $("keys-close").addEventListener("click", () => $("keys-help").close());
    $("keys-help").addEventListener("keydown", (event) => {
      // Escape closes the list (the dialog's own default), and only the list: not the
      // request open behind it.
      if (event.key === "Escape") event.stopPropagation();
    });
    $("keys-help").addEventListener("click", (event) => {
      if (event.target === event.currentTarget) event.currentTarget.close(); // the backdrop
    });

    return { showHelp, renderHelp };
  }

  window.TaxiConnect = Object.assign(window.TaxiConnect || {}, { createShortcuts });
})();
