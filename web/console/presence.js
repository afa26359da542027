/* Presence in the console header: the dispatcher's own state (available, busy, away,
 * offline) and the colleagues popover (who is on, with their state, a live-console dot and
 * how many requests they hold), kept live by `presence.changed` events.
 *
 * GET /api/v1/presence lists everyone when the console starts (and after a resync);
 * PUT /api/v1/me/presence sets one's own state. Names reach the page only as textContent.
 */
"use strict";

(() => {
  const STATES = ["available", "busy", "away", "offline"];

  /** Make the presence part; `t` and `api` are console.js's, `me()` the signed-in agent,
   * `heldBy(id)` how many requests the live queue shows the agent holding (null while the
   * queue loads): claims and releases change it between presence events. */
  function createPresence({ t, api, me, heldBy }) {
    const agents = new Map(); // agent id -> presence entry, as the hub sends it
    const $ = (id) => document.getElementById(id);
    let loadSeq = 0;

    async function load() {
      const seq = ++loadSeq;
      try {
        const { data } = await api("GET", "/api/v1/presence");
        if (seq !== loadSeq || !me()) return;
        agents.clear();
        for (const entry of data.agents || []) agents.set(entry.agent.id, entry);
        render();
      } catch (_) { /* the next event or reload fills it in */ }
    }

    function apply(event) {
      if (event.type !== "presence.changed" || !event.agent || typeof event.agent.id !== "string") {
        return false;
      }
      agents.set(event.agent.id, event);
      render();
      return true;
    }

    async function choose(value) {
      const select = $("presence-state");
      const mine = me() && agents.get(me().id);
      try {
        const { data } = await api("PUT", "/api/v1/me/presence", { state: value });
        agents.set(data.presence.agent.id, data.presence);
        $("presence-error").textContent = "";
      } catch (err) {
        select.value = mine ? mine.chosen_state : "available";
        $("presence-error").textContent = err.message || t("error_network");
      }
      render();
    }

    function start() {
      $("presence-pick").hidden = false;
      $("colleagues-toggle").hidden = false;
      render(); // the list loads once the socket says hello
    }

    function stop() {
      loadSeq += 1;
      agents.clear();
      $("presence-pick").hidden = true;
      $("colleagues-toggle").hidden = true;
      toggle(false);
      render();
    }

    function toggle(open) {
      const button = $("colleagues-toggle");
      const show = open ?? button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", String(show));
      $("colleagues").hidden = !show;
    }

    function render() {
      const select = $("presence-state");
      for (const option of select.options) option.textContent = t(`presence_${option.value}`);
      const mine = me() && agents.get(me().id);
      if (mine && document.activeElement !== select) select.value = mine.chosen_state;
      const list = $("colleagues-list");
      const entries = [...agents.values()].sort(order);
      const on = entries.filter((e) => e.online || (e.holding && e.holding.count > 0));
      $("colleagues-toggle").textContent = t("colleagues_on",
        { n: entries.filter((e) => e.online && e.state !== "offline").length });
      list.replaceChildren(...on.map(row));
      $("colleagues-empty").hidden = on.length > 0;
      $("colleagues-empty").textContent = t("colleagues_none");
    }

    function order(a, b) {
      const rank = (e) => (e.online ? STATES.indexOf(e.state) : STATES.length);
      return rank(a) - rank(b) || a.agent.name.localeCompare(b.agent.name);
    }

    function row(entry) {
      const li = document.createElement("li");
      li.className = "colleague";
      li.dataset.testid = "colleague";
      li.dataset.agentId = entry.agent.id;
      li.dataset.state = entry.state;
      li.dataset.online = String(Boolean(entry.online));
      const dot = document.createElement("span");
      dot.className = "presence-dot";
      dot.setAttribute("aria-hidden", "true");
      const name = document.createElement("span");
      name.className = "colleague-name";
      const self = me() && entry.agent.id === me().id;
      name.textContent = self ? t("you", { name: entry.agent.name }) : entry.agent.name;
      name.toggleAttribute("data-user-text", !self); // a colleague's name: data, not a word
      const status = document.createElement("span");
      status.className = "colleague-state";
      status.dataset.testid = "colleague-state";
      status.textContent = entry.online ? t(`presence_${entry.state}`) : t("presence_gone");
      const held = document.createElement("span");
      held.className = "colleague-holding";
      const count = heldBy(entry.agent.id) ?? (entry.holding ? entry.holding.count : 0);
      held.textContent = t("colleague_holding", { count });
      if (count && entry.holding.references) held.title = entry.holding.references.join(", ");
      li.append(dot, name, status, held);
      return li;
    }

    $("presence-state").addEventListener("change", (event) => choose(event.target.value));
    $("colleagues-toggle").addEventListener("click", () => toggle());
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !$("colleagues").hidden) toggle(false);
    });

    return { start, stop, load, apply, render };
  }

  window.TaxiConnect = Object.assign(window.TaxiConnect || {}, { createPresence });
})();
