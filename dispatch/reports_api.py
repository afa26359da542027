"""Reports for the dispatch manager: `GET /api/v1/reports` (JSON), the same as CSV, the
per-request timings as CSV, the `/reports` page, and the live wallboard (`/wallboard`,
`GET /api/v1/wallboard`). Admins and dispatchers (team); an
external user is refused (403). Figures are defined in dispatch.report_figures."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from dispatch.presence import PresenceBoard
from dispatch.report_counts import counted_report
from dispatch.report_facts import lane_facts, request_pages
from dispatch.report_figures import DEFAULT_SERVICE_LEVEL_S, Report
from dispatch.report_period import ReportAsk, parse_ask, parse_period
from dispatch.reports_csv import report_csv, requests_head, requests_lines
from dispatch.wallboard import board
from hub.agent_auth import current_agent
from hub.appkeys import DATABASE, KEYS, REDIS, SETTINGS
from hub.clock import utcnow
from hub.error_codes import ErrorCode
from hub.errors import Forbidden
from hub.middleware import CONSOLE_POLICY
from hub.model import Role
from web import ROOT as WEB_ROOT

BASE = "/api/v1/reports"


async def _manager(request: web.Request) -> None:
    if (await current_agent(request)).role is Role.EXTERNAL:
        raise Forbidden(ErrorCode.REPORTS_FORBIDDEN)


async def _report(request: web.Request) -> tuple[ReportAsk, Report, dict[str, Any]]:
    await _manager(request)
    ask = parse_ask(request.query, request.app[SETTINGS].timezone)
    database = request.app[DATABASE]
    lanes = await lane_facts(database)
    thresholds = {key: lane.target_wait_s for key, lane in lanes.items()}
    if ask.service_level_s is not None:
        thresholds = {}
    default_s = (ask.service_level_s if ask.service_level_s is not None
                 else DEFAULT_SERVICE_LEVEL_S)
    report = await counted_report(database, ask.by, ask.period, thresholds, default_s,
                                  utcnow())
    names = {key: {"fi": lane.name_fi, "en": lane.name_en} for key, lane in lanes.items()}
    return ask, report, names


def _filename(kind: str, ask_from: str, ask_to: str) -> str:
    return f'attachment; filename="taxiconnect-{kind}-{ask_from}-{ask_to}.csv"'


async def get_report(request: web.Request) -> web.Response:
    """Figures per group over the period, the period's total, and first response per
    channel."""
    ask, report, lanes = await _report(request)
    return web.json_response({
        "from": ask.period.first.isoformat(), "to": ask.period.after.isoformat(),
        "timezone": request.app[SETTINGS].timezone, "by": ask.by.value,
        "service_level_s": ask.service_level_s,
        "lanes": lanes,
        "rows": [{"key": group.key, "label": group.label, **figures}
                 for group, figures in report.rows()],
        "totals": report.total().figures(),
        "first_response_by_channel": report.first_response_by_channel(),
    })


async def get_report_csv(request: web.Request) -> web.Response:
    ask, report, _ = await _report(request)
    return web.Response(text=report_csv(report), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": _filename(
                            f"report-by-{ask.by.value}", ask.period.first.isoformat(),
                            ask.period.after.isoformat())})


async def get_request_timings(request: web.Request) -> web.StreamResponse:
    """Every request started in the period with its timings, a page read at a time and
    written after its read is over."""
    await _manager(request)
    period = parse_period(request.query, request.app[SETTINGS].timezone)
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": _filename("requests", period.first.isoformat(),
                                         period.after.isoformat())})
    await response.prepare(request)
    await response.write(requests_head().encode())
    async for page in request_pages(request.app[DATABASE], period.start, period.end):
        await response.write(requests_lines(page).encode())
    await response.write_eof()
    return response


async def get_wallboard(request: web.Request) -> web.Response:
    """Per lane the queue now, its longest wait and today's service level; who is
    available."""
    await _manager(request)
    app = request.app
    presence = PresenceBoard(app[DATABASE], app[REDIS].client, app[KEYS])
    return web.json_response(await board(app[DATABASE], presence,
                                         ZoneInfo(app[SETTINGS].timezone), utcnow()))


def _page(folder: str) -> Callable[[web.Request], Awaitable[web.FileResponse]]:
    async def page(request: web.Request) -> web.FileResponse:
        """The page asks the API who is logged in, so it is served to anyone."""
        return web.FileResponse(WEB_ROOT / folder / "index.html", headers={
            "Content-Security-Policy": CONSOLE_POLICY, "X-Frame-Options": "DENY",
            "Cache-Control": "no-store",
        })
    return page


def routes() -> list[web.RouteDef]:
    return [
        web.get(BASE, get_report),
        web.get(BASE + ".csv", get_report_csv),
        web.get(BASE + "/requests.csv", get_request_timings),
        web.get("/api/v1/wallboard", get_wallboard),
        web.get("/reports", _page("reports")),
        web.get("/wallboard", _page("wallboard")),
    ]
