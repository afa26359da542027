"""The admin page's Audit tab in a real browser (issue 14: 3): after an admin and a dispatcher
did audited things through the API, the admin opens the tab, filters it by user, by action and
by subject as the tab offers, pages on with "Show more", and downloads the chosen entries as
CSV through the page's own session; every action the trail holds can be chosen in the action
filter. A dispatcher gets neither the tab nor the API (403)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, expect

from hub.model import Role
from hub.settings import Settings
from tests.conftest import PASSWORD, DispatcherFactory, HubFactory, server_url
from tests.helpers import Dispatcher, submit

VIEWPORT = {"width": 1366, "height": 768}
AUDIT = "/api/v1/admin/audit"
AUDIT_JS = Path(__file__).resolve().parents[1] / "web" / "admin" / "audit.js"
PHONE = "040 555 0142"


def _page_size() -> int:
    """How many entries the tab asks for at a time, as its code says."""
    found = re.search(r"\bconst PAGE = (\d+);", AUDIT_JS.read_text(encoding="utf-8"))
    assert found, "the tab's page size is in its code"
    return int(found.group(1))


async def _call(who: Dispatcher, method: str, path: str,
                body: dict[str, Any] | None = None) -> tuple[int, Any]:
    async with who.http.request(method, who.base + path, json=body) as resp:
        if resp.content_type == "application/json":
            return resp.status, await resp.json()
        return resp.status, await resp.read()


async def _signed_in(browser: Browser, base: str, login: str, errors: list[str],
                     timezone: str) -> Page:
    context = await browser.new_context(locale="fi-FI", viewport=VIEWPORT, timezone_id=timezone,
                                        accept_downloads=True)
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{base}/admin")
    await page.get_by_test_id("login-user").fill(login)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    return page


async def _search(page: Page, *, agent: str = "", action: str = "", subject: str = "",
                  to: str = "") -> None:
    await page.get_by_test_id("audit-agent").select_option(agent)
    await page.get_by_test_id("audit-action").select_option(action)
    await page.get_by_test_id("audit-subject").fill(subject)
    await page.get_by_test_id("audit-to").fill(to)
    await page.get_by_test_id("audit-search").click()


async def _rows(page: Page) -> list[tuple[int, str]]:
    """The table's entries as (id, action), top down."""
    shown = await page.get_by_test_id("audit-row").evaluate_all(
        "(rows) => rows.map((row) => [Number(row.dataset.id), row.dataset.action])")
    return [(int(entry_id), action) for entry_id, action in shown]


async def test_an_admin_filters_pages_and_downloads_the_audit_trail(
    hub: HubFactory, dispatcher: DispatcherFactory, browser: Browser, settings: Settings
) -> None:
    client = await hub()
    base = server_url(client)
    admin = await dispatcher(client, role=Role.ADMIN, name="Auditoiva Pääkäyttäjä")
    team = await dispatcher(client, name="Tiimin Välittäjä")
    request_id = (await submit(team.http, base, "audit-browser-1", phone=PHONE))["id"]
    page_size = _page_size()
    changes = page_size + 5  # more account changes than the tab shows at once

    # Audited things, through the API: the dispatcher reads the request, is refused the
    # trail and logs out; the admin reads the request, searches for the passenger, renames
    # the dispatcher again and again, adds an automatic answer and exports the passenger.
    # (Claiming a request is a handling event of the request, not an audit entry; a read
    # of one item is audited once a while per reader, so it cannot fill a page.)
    assert (await _call(team, "GET", f"/api/v1/requests/{request_id}"))[0] == 200
    assert (await _call(team, "GET", AUDIT))[0] == 403
    assert (await _call(team, "POST", "/api/v1/auth/logout"))[0] == 200
    await admin.request(request_id)
    assert (await _call(admin, "GET", "/api/v1/contacts?q=0405550142"))[0] == 200
    for i in range(changes):
        status, _ = await _call(admin, "PATCH", f"/api/v1/admin/agents/{team.agent.id}",
                                {"name": f"Tiimin Välittäjä {i}"})
        assert status == 200
    status, answer = await _call(admin, "POST", "/api/v1/admin/answer-templates", {
        "kind": "acknowledgement", "language": "fi", "body": "Kiitos, tilaus {reference}."})
    assert status == 201, answer
    status, answer = await _call(admin, "POST", "/api/v1/admin/subject/export",
                                 {"phone": PHONE})
    assert status == 200, answer

    errors: list[str] = []
    # A dispatcher signing in to the admin page is told it is not theirs, and the API says no.
    other = await _signed_in(browser, base, team.agent.login, errors, settings.timezone)
    await expect(other.get_by_test_id("admin-denied")).to_be_visible()
    await expect(other.get_by_test_id("tab-audit")).to_be_hidden()
    assert await other.evaluate(f"fetch('{AUDIT}').then((r) => r.status)") == 403
    assert await other.evaluate(f"fetch('{AUDIT}.csv').then((r) => r.status)") == 403

    page = await _signed_in(browser, base, admin.agent.login, errors, settings.timezone)
    await page.get_by_test_id("tab-audit").click()
    rows = page.get_by_test_id("audit-row")
    await expect(rows).to_have_count(page_size)
    await expect(page.get_by_test_id("audit-more")).to_be_visible()
    trail = await _rows(page)
    assert [entry_id for entry_id, _ in trail] == sorted(
        {entry_id for entry_id, _ in trail}, reverse=True), "newest first, each once"

    # Every action in the trail (the API's whole list) can be chosen in the action filter.
    status, listed = await _call(admin, "GET", f"{AUDIT}?limit=1000")
    assert status == 200
    actions = {entry["action"] for entry in listed["entries"]}
    assert {"login", "logout", "access.refused", "read.request", "read.contact_search",
            "agent.update", "answer_template.add", "subject.export"} <= actions
    offered = [value for value in await page.get_by_test_id("audit-action").locator(
        "option").evaluate_all("(options) => options.map((o) => o.value)") if value]
    assert [a for a in sorted(actions)
            if not any(a.startswith(prefix) for prefix in offered)] == []

    # By action: the one export, by the admin, its subject masked.
    await _search(page, action="subject.")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-action", "subject.export")
    await expect(rows.first).to_contain_text("Auditoiva Pääkäyttäjä")
    await expect(rows.first).to_contain_text("phone +358***42")
    await expect(page.get_by_test_id("audit-more")).to_be_hidden()

    # By user: the dispatcher's own entries and only those, whatever the action.
    status, listed = await _call(admin, "GET", f"{AUDIT}?agent={team.agent.id}")
    assert status == 200
    await _search(page, agent=str(team.agent.id))
    await expect(rows).to_have_count(len(listed["entries"]))
    assert {action for _, action in await _rows(page)} == {
        "login", "read.request", "access.refused", "logout"}
    await expect(rows.filter(has_text=f"Tiimin Välittäjä {changes - 1}")).to_have_count(
        await rows.count())

    # By subject: the request, read by each of them once.
    await _search(page, subject=request_id)
    await expect(rows).to_have_count(2)
    assert {action for _, action in await _rows(page)} == {"read.request"}
    await expect(rows.filter(has_text="Auditoiva Pääkäyttäjä")).to_have_count(1)
    await expect(rows.filter(has_text=team.agent.login)).to_have_count(1)

    # Before a day long gone: nothing, said in words.
    await _search(page, to="2020-01-01T00:00:00")
    await expect(rows).to_have_count(0)
    await expect(page.get_by_test_id("audit-table")).to_contain_text(
        "Ei tapahtumia näillä ehdoilla.")

    # By user, action and subject: the admin's changes to the account, a page, then the rest.
    await _search(page, agent=str(admin.agent.id), action="agent.", subject=str(team.agent.id))
    await expect(rows).to_have_count(page_size)
    await expect(page.get_by_test_id("audit-count")).to_have_text(
        f"{page_size} tapahtumaa näkyvissä")
    await page.get_by_test_id("audit-more").click()
    await expect(rows).to_have_count(changes)
    await expect(page.get_by_test_id("audit-more")).to_be_hidden()
    shown = await _rows(page)
    assert {action for _, action in shown} == {"agent.update"}
    assert [entry_id for entry_id, _ in shown] == sorted(
        {entry_id for entry_id, _ in shown}, reverse=True)

    # The CSV link carries the same filters; following it downloads them, newest first.
    href = await page.get_by_test_id("audit-csv").get_attribute("href")
    assert href is not None and href.startswith(f"{AUDIT}.csv?")
    async with page.expect_download() as download_info:
        await page.get_by_test_id("audit-csv").click()
    download = await download_info.value
    assert download.suggested_filename.endswith(".csv")
    saved = await download.path()
    lines = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"), newline="")))
    assert [int(line["id"]) for line in lines] == [entry_id for entry_id, _ in shown]
    assert {(line["action"], line["agent_login"], line["subject"]) for line in lines} == {
        ("agent.update", admin.agent.login, str(team.agent.id))}

    # The download is itself in the trail, with the filters it was asked with.
    status, listed = await _call(admin, "GET", f"{AUDIT}?action=read.audit&limit=1000")
    assert status == 200
    downloads = [e["detail"] for e in listed["entries"] if e["detail"].get("csv")]
    assert len(downloads) == 1
    assert (downloads[0]["agent"], downloads[0]["action"], downloads[0]["subject"]) == (
        str(admin.agent.id), "agent.", str(team.agent.id))
    assert errors == []
