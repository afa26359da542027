"""Operations endpoints: liveness, readiness, and Prometheus metrics."""

from __future__ import annotations

import asyncio
import hmac
import json

from aiohttp import web
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from hub.appkeys import (
    DATABASE,
    DEAD_LOOPS,
    INGESTOR,
    METRICS,
    REDIS,
    REDIS_WATCH,
    RELAY,
    SETTINGS,
    TRUSTED_PROXIES,
    WEBSOCKETS,
)
from hub.client_address import client_address, is_loopback
from hub.metrics import metrics_page

CHECK_TIMEOUT_S = 2.0


async def healthz(request: web.Request) -> web.Response:
    """Liveness: 503 when one of the hub's background loops died, or once Redis has been out
    too long for the hub to do its job (an embedded server that could not be restarted, a
    Redis by URL that stays away), so that a supervisor restarts the hub; a short outage is
    /readyz's business."""
    dead = request.app.get(DEAD_LOOPS)
    if dead:
        return web.json_response(
            {"status": "failing", "reason": f"background task died: {', '.join(dead)}"},
            status=503)
    watch = request.app.get(REDIS_WATCH)
    if watch is not None and not watch.healthy:
        return web.json_response(
            {"status": "failing", "reason": f"Redis out for {watch.down_for_s():.0f} s"},
            status=503)
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(request.app[DATABASE].ping(), CHECK_TIMEOUT_S)
        checks["database"] = "ok"
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        await asyncio.wait_for(request.app[REDIS].client.ping(), CHECK_TIMEOUT_S)
        checks["redis"] = "ok"
    except (RedisError, OSError, TimeoutError) as exc:
        checks["redis"] = f"unreachable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return web.json_response({"status": "ready" if ready else "not ready", "checks": checks},
                             status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    _may_scrape(request)
    return await metrics_page(request, request.app[METRICS], request.app[DATABASE])


def _may_scrape(request: web.Request) -> None:
    """A bearer token when one is set; otherwise a client on this machine (behind a trusted
    proxy, the client the proxy names, not the proxy itself)."""
    token = request.app[SETTINGS].http.metrics_token.reveal()
    if token:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, f"Bearer {token}".encode()):
            raise web.HTTPUnauthorized(
                text=json.dumps({"error": "send Authorization: Bearer <http.metrics_token>"}),
                content_type="application/json", headers={"WWW-Authenticate": "Bearer"})
        return
    address = client_address(request, request.app[TRUSTED_PROXIES])
    if is_loopback(address):
        return
    raise web.HTTPForbidden(
        text=json.dumps({"error": "set http.metrics_token to scrape /metrics from elsewhere"}),
        content_type="application/json")


def live_counters(app: web.Application) -> list[tuple[str, str, float]]:
    """The counters the core keeps on its own objects, under the names /metrics has always
    given them (read at scrape time; a part not started yet reads 0). Dispatch's are in
    dispatch.live_counters."""
    ingestor, relay = app.get(INGESTOR), app.get(RELAY)
    return [
        ("taxiconnect_ingest_committed_total", "Contacts committed by ingest",
         ingestor.committed if ingestor else 0),
        ("taxiconnect_ingest_batches_total", "Ingest transactions",
         ingestor.batches if ingestor else 0),
        ("taxiconnect_ingest_refused_total", "Contacts refused with 503 at capacity",
         ingestor.refused if ingestor else 0),
        ("taxiconnect_ingest_announced_total",
         "Contacts an announcement-only notice kept out", ingestor.announced if ingestor else 0),
        ("taxiconnect_outbox_published_total", "Outbox rows published to Redis",
         relay.published if relay else 0),
        ("taxiconnect_outbox_failures_total", "Failed outbox publish attempts",
         relay.failures if relay else 0),
        ("taxiconnect_console_websockets", "Console websockets open (on every worker)",
         len(app[WEBSOCKETS])),
    ]


def routes() -> list[web.RouteDef]:
    return [
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
        web.get("/metrics", metrics),
    ]
