"""Operations endpoints: liveness, readiness, and Prometheus metrics."""

from __future__ import annotations

import asyncio

from aiohttp import web
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from hub.appkeys import DATABASE, FEED, INGESTOR, REDIS, RELAY, ROUTER, WEBSOCKETS

CHECK_TIMEOUT_S = 2.0


async def healthz(request: web.Request) -> web.Response:
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
    app = request.app
    ingestor, relay, router, feed = app[INGESTOR], app[RELAY], app[ROUTER], app[FEED]
    values = [
        ("taxiconnect_ingest_committed_total", "counter", ingestor.committed,
         "Contacts committed by ingest"),
        ("taxiconnect_ingest_batches_total", "counter", ingestor.batches,
         "Ingest transactions"),
        ("taxiconnect_ingest_refused_total", "counter", ingestor.refused,
         "Contacts refused with 503 at capacity"),
        ("taxiconnect_outbox_published_total", "counter", relay.published,
         "Outbox rows published to Redis"),
        ("taxiconnect_outbox_failures_total", "counter", relay.failures,
         "Failed outbox publish attempts"),
        ("taxiconnect_router_routed_total", "counter", router.routed,
         "Inbound entries routed"),
        ("taxiconnect_router_reclaimed_total", "counter", router.reclaimed,
         "Abandoned entries taken over"),
        ("taxiconnect_feed_events_total", "counter", feed.delivered,
         "Console events read from Redis"),
        ("taxiconnect_console_websockets", "gauge", len(app[WEBSOCKETS]),
         "Console websockets open on this process"),
    ]
    lines = []
    for name, kind, value, help_text in values:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain",
                        charset="utf-8")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
        web.get("/metrics", metrics),
    ]
