"""The audit trail over HTTP, admins only: a JSON list by pages and a CSV download.

Both take the same filters: `from` and `to` (ISO 8601 with an offset; `to` exclusive),
`agent` (the actor's id), `action` (a prefix: `agent.`, `read.`, `login`), `subject` (an
id as the entries name it). The list is newest first; `next_cursor` (null on the last page)
given back as `cursor`, with the same filters, brings the next page; the cursor is the
request list's (dispatch.requests_api), keyed on the entry id. Reading the trail is itself
an entry (`read.audit`, with the filters), and a team or external user's try is refused
with a 403 that is in the trail too (hub.agent_auth).
"""

from __future__ import annotations

import hashlib
import uuid

from aiohttp import web

from dispatch.audit_csv import csv_lines
from dispatch.query_params import instant, page_limit
from dispatch.requests_api import decode_cursor, encode_cursor
from hub.agent_auth import require_admin
from hub.appkeys import DATABASE
from hub.audit_query import AuditFilter, page
from hub.audit_web import record_access
from hub.clock import utcnow
from hub.error_codes import ErrorCode
from hub.errors import BadInput
from hub.text import is_storable

BASE = "/api/v1/admin/audit"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
CSV_PAGE = 1000  # entries per short read while the CSV streams out
MAX_CSV_ENTRIES = 200_000  # a download this long is a sign to narrow the dates
CURSOR_KINDS = "i"  # the last entry's id


def _filter(request: web.Request) -> AuditFilter:
    q = request.query
    agent_id = None
    if q.get("agent"):
        try:
            agent_id = uuid.UUID(q["agent"])
        except ValueError as exc:
            raise BadInput(ErrorCode.AGENT_FILTER_INVALID) from exc
    action, subject = q.get("action", "").strip(), q.get("subject", "").strip()
    for name, value in (("action", action), ("subject", subject)):
        if not is_storable(value):  # no entry holds it; PostgreSQL would refuse the text
            raise BadInput(ErrorCode.AUDIT_FILTER_UNSTORABLE.of(field=name))
    return AuditFilter(since=instant(request.query, "from"), until=instant(request.query, "to"),
                       agent_id=agent_id, action_prefix=action or None, subject=subject or None)


def _scope(chosen: AuditFilter) -> str:
    return hashlib.sha256(("audit" + chosen.scope()).encode()).hexdigest()[:12]


async def audit_list(request: web.Request) -> web.Response:
    admin = await require_admin(request)
    chosen, limit = _filter(request), page_limit(request.query, DEFAULT_LIMIT, MAX_LIMIT)
    before_id = None
    if request.query.get("cursor"):
        _, (before_id,) = decode_cursor(request.query["cursor"], _scope(chosen), CURSOR_KINDS)
    async with request.app[DATABASE].read() as conn:
        entries = await page(conn, chosen, before_id=before_id, limit=limit + 1)
    next_cursor: str | None = None
    next_url: str | None = None
    if len(entries) > limit:
        next_cursor = encode_cursor(utcnow(), _scope(chosen), [entries[limit - 1]["id"]])
        next_url = str(request.rel_url.update_query(cursor=next_cursor))
    await record_access(request, "read.audit", agent_id=admin.id,
                        detail={**chosen.as_json(), "count": len(entries[:limit])})
    return web.json_response({"entries": entries[:limit], "next_cursor": next_cursor,
                              "next": next_url})


async def audit_csv(request: web.Request) -> web.StreamResponse:
    """Every entry the filters choose, newest first, read a page at a time: no database
    connection is held while the client takes the bytes."""
    admin = await require_admin(request)
    chosen = _filter(request)
    await record_access(request, "read.audit", agent_id=admin.id,
                        detail={**chosen.as_json(), "csv": True})
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8", "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="audit-{utcnow():%Y%m%d-%H%M%S}.csv"'})
    await response.prepare(request)
    await response.write(csv_lines([], header=True).encode())
    before_id: int | None = None
    sent = 0
    while sent < MAX_CSV_ENTRIES:
        async with request.app[DATABASE].read() as conn:
            entries = await page(
                conn, chosen, before_id=before_id, limit=min(CSV_PAGE, MAX_CSV_ENTRIES - sent))
        if not entries:
            break
        await response.write(csv_lines(entries, header=False).encode())
        sent += len(entries)
        before_id = entries[-1]["id"]
    await response.write_eof()
    return response


def routes() -> list[web.RouteDef]:
    return [web.get(BASE, audit_list), web.get(BASE + ".csv", audit_csv)]
