/* A horizontal bar chart drawn as inline SVG: one bar per row, its label on the left and its
 * value at the bar's end. No library; labels reach the SVG only as textContent.
 *
 * globalThis.TaxiReports.barChart(container, bars, {title, format}) where bars are
 * [{label, value}] (value null: no bar, shown as "–").
 */
"use strict";

(() => {
  const NS = "http://www.w3.org/2000/svg";
  const ROW = 22; // px per bar
  const LABEL_W = 170; // room for a lane, agent or date
  const VALUE_W = 70;
  const WIDTH = 720;

  function node(name, attrs, text) {
    const found = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs)) found.setAttribute(key, String(value));
    if (text !== undefined) found.textContent = text;
    return found;
  }

  function barChart(container, bars, { title, format }) {
    const max = Math.max(0, ...bars.map((bar) => bar.value ?? 0));
    const span = WIDTH - LABEL_W - VALUE_W;
    const height = Math.max(1, bars.length) * ROW + 4;
    const svg = node("svg", { viewBox: `0 0 ${WIDTH} ${height}`, role: "img",
                              "aria-label": title, "data-testid": "report-svg" });
    svg.append(node("title", {}, title));
    bars.forEach((bar, i) => {
      const y = i * ROW + 2;
      const width = max > 0 && bar.value ? Math.max(1, (bar.value / max) * span) : 0;
      const group = node("g", { "data-label": bar.label });
      group.append(
        node("text", { class: "label", x: LABEL_W - 8, y: y + 15, "text-anchor": "end" },
             bar.label.length > 24 ? `${bar.label.slice(0, 23)}…` : bar.label),
        node("rect", { class: "bar", x: LABEL_W, y: y + 3, width, height: ROW - 6, rx: 2 }),
        node("text", { class: "value", x: LABEL_W + width + 6, y: y + 15 }, format(bar.value)));
      svg.append(group);
    });
    container.replaceChildren(svg);
  }

  globalThis.TaxiReports = { ...(globalThis.TaxiReports || {}), barChart };
})();
