"""The counters dispatch's workers keep, for /metrics (read at scrape time; a worker not
started yet reads 0). The core's own are in hub.health.live_counters."""

from __future__ import annotations

from aiohttp import web

from dispatch.appkeys import FEED, ROUTER, WEBHOOKS


def live_counters(app: web.Application) -> list[tuple[str, str, float]]:
    router, feed, hooks = app.get(ROUTER), app.get(FEED), app.get(WEBHOOKS)
    return [
        ("taxiconnect_router_routed_total", "Inbound entries routed",
         router.routed if router else 0),
        ("taxiconnect_router_reclaimed_total", "Abandoned entries taken over",
         router.reclaimed if router else 0),
        ("taxiconnect_feed_events_total", "Console events read from Redis",
         feed.delivered if feed else 0),
        ("taxiconnect_webhooks_delivered_total", "Webhook events answered 2xx",
         hooks.total("delivered") if hooks else 0),
        ("taxiconnect_webhooks_retried_total", "Webhook attempts failed and retried later",
         hooks.total("retried") if hooks else 0),
        ("taxiconnect_webhooks_failed_total", "Webhook events given up (refused or out of "
         "attempts)", hooks.total("failed") if hooks else 0),
        ("taxiconnect_webhooks_in_flight", "Webhook events being delivered now",
         hooks.in_flight if hooks else 0),
    ]
