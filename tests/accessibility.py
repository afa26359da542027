"""axe-core run inside a Playwright page: a page state passes when axe finds no violation of
impact serious or critical (minor and moderate are let through, issue 15).

axe.min.js comes from the `axe-playwright-python` wheel (test extra), which bundles axe-core
(MPL-2.0) unchanged; the script is injected into the page under test, nothing is served by
the hub.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from playwright.async_api import Page

BLOCKING = frozenset({"serious", "critical"})
TARGETS_SHOWN = 3  # enough selectors to find the element, not a wall of them


@functools.cache
def axe_source() -> str:
    return resources.files("axe_playwright_python").joinpath("axe.min.js").read_text("utf-8")


async def violations(page: Page) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now (all impacts)."""
    if not await page.evaluate("typeof window.axe === 'object'"):
        # As a script body, not a <script> tag: the pages' CSP (script-src 'self') would
        # refuse an inline tag, while evaluate runs through the debugging protocol.
        await page.evaluate(axe_source())
    found: list[dict[str, Any]] = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return found


def _selector(part: str | list[str]) -> str:
    # A list is a path into shadow roots (the chat widget's): host, then inside it.
    return part if isinstance(part, str) else " >> ".join(part)


def describe(found: list[dict[str, Any]], context: str) -> str:
    lines = []
    for rule in found:
        targets = [" ".join(_selector(part) for part in node["target"])
                   for node in rule["nodes"]]
        shown = ", ".join(targets[:TARGETS_SHOWN])
        more = f" (+{len(targets) - TARGETS_SHOWN} more)" if len(targets) > TARGETS_SHOWN else ""
        lines.append(f"  [{context}] {rule['impact']} {rule['id']}: {rule['help']}: "
                     f"{shown}{more}")
    return "\n".join(lines)


async def assert_accessible(page: Page, context: str) -> None:
    """Fail listing every serious or critical axe violation of the page's current state."""
    blocking = [rule for rule in await violations(page) if rule.get("impact") in BLOCKING]
    assert not blocking, (f"axe-core: {len(blocking)} serious/critical violation(s) on "
                          f"{context}:\n{describe(blocking, context)}")
