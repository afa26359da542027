"""Chromium for bench/console.py: the console page and two baseline pages, timed from inside.

A script added to every page before its own (`WATCH`) observes the queue's `<tbody
id="queue-body">` and notes, on the page's clock:

- `rows`: when the table first holds the wanted number of rows (a MutationObserver, so in
  the same task that inserted them), and `painted`: the frame after that (rAF, then a
  task), i.e. once the browser has drawn them;
- per request reference, when its row was inserted and when it was drawn, in epoch
  milliseconds (`performance.timeOrigin + now()`), to set against the bench's `time.time()`;
- long tasks (over 50 ms) on the page's main thread: how busy it was while events came.

Baselines, served on the hub's origin through Playwright's routing (so they may use its
session cookie and stylesheet; routing adds a little to them, never to the console):

- `static`: the same rows already in the HTML, styled by the console's stylesheet: what the
  browser needs to lay out and draw 500 rows, with no script at all;
- `minimal`: a page that fetches the same list API and builds the same cells with plain DOM
  calls: the floor for any script-built queue on this API.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, Playwright, Route

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # as tests/conftest.py launches it
VIEWPORT = {"width": 1366, "height": 768}  # the dispatchers' laptops
LIST_PATH = "/api/v1/requests?limit=2000"  # what web/console/console.js loads
STATIC_PATH = "/bench/static-queue.html"
MINIMAL_PATH = "/bench/minimal-queue.html"
RENDER_TIMEOUT_MS = 60_000
POLL_MS = 50  # how often Playwright looks for the marks; the marks are taken in the page

WATCH = """
(() => {
  const want = __WANT__;
  const bench = { rows: null, painted: null, seen: {}, long: [] };
  window.__bench = bench;
  new PerformanceObserver((list) => {
    for (const task of list.getEntries()) bench.long.push([task.startTime, task.duration]);
  }).observe({ type: "longtask" });
  const afterPaint = (fn) => requestAnimationFrame(() => setTimeout(fn, 0));
  function added(body, records) {
    const now = performance.now();
    const fresh = [];
    for (const record of records) {
      for (const node of record.addedNodes) {
        const ref = node.dataset && node.dataset.reference;
        if (ref && !(ref in bench.seen)) {
          bench.seen[ref] = [performance.timeOrigin + now, null];
          fresh.push(ref);
        }
      }
    }
    if (bench.rows === null && body.childElementCount >= want) {
      bench.rows = now;
      afterPaint(() => { bench.painted = performance.now(); });
    }
    if (fresh.length) {
      afterPaint(() => {
        const at = performance.timeOrigin + performance.now();
        for (const ref of fresh) bench.seen[ref][1] = at;
      });
    }
  }
  document.addEventListener("DOMContentLoaded", () => {
    const body = document.getElementById("queue-body");
    if (!body) return;
    new MutationObserver((records) => added(body, records)).observe(body, { childList: true });
    added(body, [{ addedNodes: body.children }]); // rows the HTML itself holds
  });
})();
"""

MARKS = """(path) => {
  const b = window.__bench;
  const list = performance.getEntriesByType("resource").find((e) => e.name.endsWith(path));
  const nav = performance.getEntriesByType("navigation")[0];
  return { rows: b.rows, painted: b.painted, dcl: nav ? nav.domContentLoadedEventEnd : null,
           list_start: list ? list.startTime : null, list_end: list ? list.responseEnd : null };
}"""

MINIMAL_SCRIPT = """
fetch("__LIST_PATH__", { credentials: "same-origin" }).then((r) => r.json()).then((data) => {
  const body = document.getElementById("queue-body");
  const now = Date.now();
  const cell = (cls, text) => {
    const td = document.createElement("td");
    td.className = cls;
    td.textContent = text;
    return td;
  };
  const rows = data.requests.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.reference = r.reference;
    const since = Date.parse(r.timings.queued_at || r.last_message_at);
    const waited = Math.max(0, Math.round((now - since) / 1000));
    const open = document.createElement("button");
    open.className = "row-open";
    open.textContent = r.reference;
    const ref = document.createElement("td");
    ref.className = "col-ref";
    ref.append(open);
    const status = document.createElement("span");
    status.className = "badge status-" + r.status;
    status.textContent = r.status;
    const statusCell = cell("col-status", "");
    statusCell.append(status);
    const wait = Math.floor(waited / 60) + ":" + String(waited % 60).padStart(2, "0");
    tr.append(cell("col-wait num", wait),
              cell("col-channel", r.channel), ref,
              cell("col-name", r.contact.name || r.contact.phones[0] || ""),
              cell("col-preview", r.preview || ""), statusCell,
              cell("col-agent", r.assigned_agent ? r.assigned_agent.name : "-"));
    return tr;
  });
  body.append(...rows);
});
""".replace("__LIST_PATH__", LIST_PATH)


@dataclass(frozen=True, slots=True)
class Render:
    """One timed load of a page, in ms from the navigation's start."""

    page: str  # "console", "static" or "minimal"
    rows_ms: float  # the table holds the wanted rows
    painted_ms: float  # ... and they were drawn
    dcl_ms: float | None  # DOMContentLoaded handlers done
    list_start_ms: float | None  # the list API request went out
    list_end_ms: float | None  # its last byte arrived


def _table(rows: str) -> str:
    head = "".join(f'<th scope="col" class="col-{c}">{c}</th>'
                   for c in ("wait", "channel", "ref", "name", "preview", "status", "agent"))
    return (f'<table class="queue-table"><thead><tr>{head}</tr></thead>'
            f'<tbody id="queue-body">{rows}</tbody></table>')


def _page(body: str) -> str:
    return ('<!doctype html><html lang="fi"><head><meta charset="utf-8">'
            '<link rel="stylesheet" href="/static/console/console.css"><title>baseline</title>'
            f'</head><body><main class="queue"><div class="table-wrap">{body}</div></main>'
            '</body></html>')


def static_page(requests: list[dict[str, Any]]) -> str:
    """The rows the console would show, already in the HTML."""
    rows = []
    for r in requests:
        contact = r["contact"]
        name = html.escape(contact.get("name") or (contact.get("phones") or [""])[0])
        agent = html.escape((r.get("assigned_agent") or {}).get("name", "-"))
        rows.append(
            f'<tr data-testid="queue-row" data-reference="{html.escape(r["reference"])}">'
            f'<td class="col-wait num">0:42</td><td class="col-channel">{r["channel"]}</td>'
            f'<td class="col-ref"><button class="row-open">{html.escape(r["reference"])}'
            f'</button></td><td class="col-name">{name}</td>'
            f'<td class="col-preview">{html.escape(r.get("preview") or "")}</td>'
            f'<td class="col-status"><span class="badge status-{r["status"]}">{r["status"]}'
            f'</span></td><td class="col-agent">{agent}</td></tr>')
    return _page(_table("".join(rows)))


def minimal_page() -> str:
    return _page(_table("")).replace("</body>", f"<script>{MINIMAL_SCRIPT}</script></body>")


class Chromium:
    """One browser, one context (the dispatcher's session), a page per kind of load."""

    def __init__(self, playwright: Playwright, base_url: str, want: int) -> None:
        self.playwright = playwright
        self.base = base_url
        self.want = want
        self.browser: Browser | None = None
        self.context: BrowserContext | None = None
        self.console: Page | None = None
        self.baseline: Page | None = None

    def __repr__(self) -> str:
        return f"<Chromium {self.base} want={self.want}>"

    async def start(self, requests: list[dict[str, Any]]) -> None:
        self.browser = await self.playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        self.context = await self.browser.new_context(locale="fi-FI", viewport=VIEWPORT)
        await self.context.add_init_script(WATCH.replace("__WANT__", str(self.want)))
        self.console = await self.context.new_page()
        self.baseline = await self.context.new_page()
        pages = {STATIC_PATH: static_page(requests), MINIMAL_PATH: minimal_page()}

        async def serve(route: Route) -> None:
            path = "/" + route.request.url.split("/", 3)[3]
            await route.fulfill(status=200, content_type="text/html; charset=utf-8",
                                body=pages[path])

        for path in pages:
            await self.baseline.route(f"{self.base}{path}", serve)

    async def close(self) -> None:
        if self.browser is not None:
            await self.browser.close()

    async def log_in(self, login: str, password: str) -> None:
        page = self._page(self.console)
        await page.goto(f"{self.base}/console")
        await page.get_by_test_id("login-user").fill(login)
        await page.get_by_test_id("login-password").fill(password)
        await page.get_by_test_id("login-submit").click()
        await page.wait_for_selector('[data-testid="connection-state"][data-state="live"]')

    async def render(self, kind: str) -> Render:
        """Load one page from blank and time it until the wanted rows are drawn."""
        page = self._page(self.console if kind == "console" else self.baseline)
        path = {"console": "/console", "static": STATIC_PATH, "minimal": MINIMAL_PATH}[kind]
        await page.bring_to_front()
        await page.goto("about:blank")
        await page.goto(self.base + path, wait_until="commit")
        await page.wait_for_function("() => window.__bench && window.__bench.painted !== null",
                                     polling=POLL_MS, timeout=RENDER_TIMEOUT_MS)
        marks = await page.evaluate(MARKS, LIST_PATH)
        return Render(kind, marks["rows"], marks["painted"], marks["dcl"], marks["list_start"],
                      marks["list_end"])

    async def fetch_list_ms(self) -> float:
        """The list API alone, fetched and parsed on the hub's origin (the baseline page)."""
        page = self._page(self.baseline)
        return float(await page.evaluate("""async (path) => {
            const began = performance.now();
            const answer = await fetch(path, { credentials: "same-origin" });
            await answer.json();
            return performance.now() - began;
        }""", LIST_PATH))

    async def open_console(self) -> None:
        """The console, loaded and drawn, left open for the live phase."""
        await self.render("console")
        await self.page_live()

    async def page_live(self) -> None:
        await self._page(self.console).wait_for_selector(
            '[data-testid="connection-state"][data-state="live"]')

    async def busy_since(self, began_ms: float | None) -> tuple[float, float, float]:
        """The console page's clock now, and since `began_ms` (its clock; None: now) the
        time spent in long tasks and the longest one, in ms."""
        now, total, longest = await self._page(self.console).evaluate("""(began) => {
            const now = performance.now();
            const since = began === null ? now : began;
            const tasks = window.__bench.long.filter(([start]) => start >= since);
            return [now, tasks.reduce((sum, [, d]) => sum + d, 0),
                    Math.max(0, ...tasks.map(([, d]) => d))];
        }""", began_ms)
        return float(now), float(total), float(longest)

    async def seen(self, references: list[str]) -> dict[str, tuple[float, float | None]]:
        """Per reference: epoch ms its row was inserted and drawn on the console page."""
        found = await self._page(self.console).evaluate(
            "(refs) => refs.map((r) => window.__bench.seen[r] || null)", references)
        return {ref: (marks[0], marks[1]) for ref, marks in zip(references, found, strict=True)
                if marks is not None}

    def _page(self, page: Page | None) -> Page:
        if page is None:
            raise RuntimeError("Chromium.start() first")
        return page
