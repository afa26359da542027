"""The application factory: it only wires. Each resource opens and closes in its own cleanup
context, in order: database, Redis, outbox relay, ingest, router, event feed, the gateway
HTTP client, channels, outbound worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import weakref
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import ClientSession, ClientTimeout, WSCloseCode, web

from channels.base import ChannelAdapter, HubServices, Sender
from channels.registry import adapter_class, recording_routes
from channels.registry import provider_audio as channel_provider_audio
from dispatch import (
    admin_api,
    answer_templates_api,
    attachments_api,
    audit_api,
    auth,
    callbacks_api,
    canned_api,
    channel_alerts,
    channel_status,
    groups_api,
    lanes_api,
    notices_api,
    passengers,
    presence_api,
    reports_api,
    requests_api,
    subject_api,
    viewers,
    webhooks_api,
)
from dispatch import live_counters as dispatch_counters
from dispatch.appkeys import (
    ADAPTERS,
    FEED,
    HANDBACK,
    OFFERS,
    OUTBOUND,
    PRESENCE_FANOUT,
    ROUTER,
    SESSION_CHECK,
    WEBHOOKS,
)
from dispatch.auto_answers import AutoAnswers
from dispatch.callback_openapi import PATHS as CALLBACK_PATHS
from dispatch.channel_alerts import ALERT_WATCH, make_watch
from dispatch.console_ws import console_ws
from dispatch.feed import EventFeed
from dispatch.handback import HandBack
from dispatch.offers import Offers
from dispatch.outbound import OutboundWorker
from dispatch.presence import PresenceFanout
from dispatch.reports_openapi import PATHS as REPORT_PATHS
from dispatch.router import Router
from dispatch.session_check import SessionCheck
from dispatch.webhooks import Webhooks
from hub import health, openapi, page_words
from hub.answer_book import AnswerBook
from hub.appkeys import (
    ANSWERS,
    DATABASE,
    DEAD_LOOPS,
    DELIVERIES,
    HTTP_CLIENT,
    INGESTOR,
    KEYS,
    LANES,
    METRICS,
    NOTICES,
    PURGE,
    REDIS,
    REDIS_WATCH,
    RELAY,
    REPLY_SENDERS,
    SESSIONS,
    SETTINGS,
    TRUSTED_PROXIES,
    WEBSOCKETS,
)
from hub.audit_web import audit_address
from hub.calls import CallStore
from hub.channel_state import ChannelState
from hub.chat_live import ChatLive
from hub.client_address import parse_networks
from hub.clock import utcnow
from hub.database import Database
from hub.deliveries import Deliveries
from hub.error_codes import ErrorCode
from hub.ingest import Ingestor
from hub.keys import Keys
from hub.lane_book import LaneBook
from hub.metrics import Metrics, answer_timer
from hub.middleware import errors_middleware, security_headers
from hub.model import Channel
from hub.notices import NoticeBoard
from hub.openapi_alerts import PATHS as ALERT_PATHS
from hub.openapi_audit import PATHS as AUDIT_PATHS
from hub.openapi_groups import PATHS as GROUP_PATHS
from hub.openapi_lanes import PATHS as LANE_PATHS
from hub.openapi_notices import PATHS as NOTICE_PATHS
from hub.openapi_subject import PATHS as SUBJECT_PATHS
from hub.openapi_templates import PATHS as TEMPLATE_PATHS
from hub.openapi_webhooks import PATHS as WEBHOOK_PATHS
from hub.outbox import OutboxRelay
from hub.passenger_notices import PassengerNotices
from hub.purge import Purge, PurgeWorker
from hub.recording_audio import ProviderAudio
from hub.recordings import Recordings
from hub.redis_client import open_redis
from hub.redis_watch import RedisWatch
from hub.sessions import Sessions
from hub.settings import Settings
from hub.sms_part_marks import SmsPartMarks
from hub.tasks import stop_task
from hub.tls import install_hsts
from hub.webhook_log import WebhookLog
from web import ROOT as WEB_ROOT

log = logging.getLogger(__name__)

STOP_GRACE_S = 2.0
# The stop() of every background loop that has one, for _stop_loops_together.
LOOPS_TO_STOP: web.AppKey[list[Callable[[], None]]] = web.AppKey("loops_to_stop", list)

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def create_app(settings: Settings) -> web.Application:
    metrics = Metrics()
    app = web.Application(
        client_max_size=settings.http.max_body_bytes,
        middlewares=[answer_timer(metrics), security_headers, errors_middleware, audit_address],
    )
    app[METRICS] = metrics
    metrics.counters(partial(health.live_counters, app))
    metrics.counters(partial(dispatch_counters.live_counters, app))
    app[SETTINGS] = settings
    app[KEYS] = Keys(settings.redis.prefix)
    app[TRUSTED_PROXIES] = parse_networks(settings.http.trusted_proxies)
    app[WEBSOCKETS] = weakref.WeakSet()
    app[LOOPS_TO_STOP] = []
    app[DEAD_LOOPS] = []
    adapters: list[ChannelAdapter] = [adapter_class(n)() for n in settings.channels.enabled]
    app[ADAPTERS] = {a.name: a for a in adapters}
    settings.alerts.check_adapters(a.name for a in adapters)
    app[REPLY_SENDERS] = _reply_senders(adapters)

    app.cleanup_ctx.extend([
        _database,
        _redis,
        _background("relay", RELAY, _make_relay),
        _background("ingest", INGESTOR, _make_ingestor),
        _background("router", ROUTER, _make_router),
        _background("feed", FEED, _make_feed),
        _background("handback", HANDBACK, _make_handback),
        _background("offers", OFFERS, _make_offers),
        _background("presence", PRESENCE_FANOUT,
                    lambda app: PresenceFanout(app[REDIS].client, app[KEYS])),
        _http_client,
        _channels(adapters),
        _background("outbound", OUTBOUND, _make_outbound),
        _background("purge", PURGE, _make_purge),
        _background("channel alerts", ALERT_WATCH, make_watch),
        _background("redis watch", REDIS_WATCH,
                    lambda app: RedisWatch(app[REDIS], app[SETTINGS].data_dir,
                                           unhealthy_after_s=app[SETTINGS].redis.unhealthy_after_s)),
        _summary,
        _stop_loops_together,
    ])
    if settings.webhooks.endpoints:  # nothing leaves for an endpoint nobody configured
        app.cleanup_ctx.insert(len(app.cleanup_ctx) - 1,
                               _background("webhooks", WEBHOOKS, _make_webhooks))
    app.on_shutdown.append(_close_websockets)
    install_hsts(app, settings.http)

    app.router.add_routes(health.routes())
    app.router.add_routes(openapi.routes(LANE_PATHS, CALLBACK_PATHS, NOTICE_PATHS,
                                         GROUP_PATHS, TEMPLATE_PATHS, SUBJECT_PATHS,
                                         AUDIT_PATHS, REPORT_PATHS, WEBHOOK_PATHS,
                                         ALERT_PATHS))
    for adapter in adapters:
        app.router.add_routes(adapter.routes())
    app.router.add_routes(recording_routes(adapters))
    app.router.add_routes([
        web.post("/api/v1/auth/login", auth.login),
        web.post("/api/v1/auth/logout", auth.logout),
        web.get("/api/v1/me", auth.me),
        web.get("/api/v1/console/ws", console_ws),
        web.get("/console", _console_page),
        web.get("/", _to_console),
        web.get("/favicon.ico", _favicon),
    ])
    app.router.add_routes(page_words.routes())
    app.router.add_routes(requests_api.routes())
    app.router.add_routes(attachments_api.routes())
    app.router.add_routes(callbacks_api.routes())
    app.router.add_routes(presence_api.routes())
    app.router.add_routes(admin_api.routes())
    app.router.add_routes(audit_api.routes())
    app.router.add_routes(passengers.routes())
    app.router.add_routes(canned_api.routes())
    app.router.add_routes(channel_status.routes())
    app.router.add_routes(channel_alerts.routes())
    app.router.add_routes(lanes_api.routes())
    app.router.add_routes(viewers.routes())
    app.router.add_routes(notices_api.routes())
    app.router.add_routes(groups_api.routes())
    app.router.add_routes(answer_templates_api.routes())
    app.router.add_routes(subject_api.routes())
    app.router.add_routes(reports_api.routes())
    app.router.add_routes(webhooks_api.routes())
    app.router.add_static("/static", WEB_ROOT, show_index=False)
    return app


def provider_audio(http: ClientSession, settings: Settings) -> ProviderAudio:
    """The fetch of a provider's recording audio, for `taxiconnect export`, which exports
    without an app (the admin API reaches it through the registry)."""
    return channel_provider_audio(http, settings)


async def _database(app: web.Application) -> AsyncIterator[None]:
    db = Database(app[SETTINGS].database_url, echo=app[SETTINGS].database.echo)
    try:
        await db.migrate(data_dir=app[SETTINGS].data_dir)
        db.checkpoint_in_background()
        app[DATABASE] = db
        app[LANES] = LaneBook(db)
        app[NOTICES] = NoticeBoard(db)
        app[ANSWERS] = AnswerBook(db, zone=ZoneInfo(app[SETTINGS].timezone))
        await app[LANES].ensure_default()
        # In hand before the first contact, so no hot path ever waits for the first load.
        await app[LANES].current()
        await app[NOTICES].current(utcnow())
        yield
    finally:
        for book in (app.get(LANES), app.get(NOTICES), app.get(ANSWERS)):
            if book is not None:
                await book.close()
        await db.close()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    connection = await open_redis(app[SETTINGS])
    app[REDIS] = connection
    app[SESSIONS] = Sessions(connection.client, app[KEYS],
                             int(app[SETTINGS].console.session_hours * 3600))
    app[SESSION_CHECK] = SessionCheck(app[DATABASE], app[SESSIONS])
    try:
        yield
    finally:
        await connection.close()


def _make_relay(app: web.Application) -> OutboxRelay:
    q = app[SETTINGS].queue
    return OutboxRelay(app[DATABASE], app[REDIS].client, app[KEYS],
                       events_maxlen=q.events_maxlen, sweep_interval_s=q.outbox_sweep_s)


def _make_ingestor(app: web.Application) -> Ingestor:
    i = app[SETTINGS].ingest
    return Ingestor(app[DATABASE], app[RELAY], app[LANES], batch_max=i.batch_max,
                    max_pending=i.max_pending, max_wait_s=i.max_wait_s,
                    max_in_flight=i.max_in_flight, notices=app[NOTICES],
                    metrics=app[METRICS])


def _make_router(app: web.Application) -> Router:
    q = app[SETTINGS].queue
    consumer = f"{socket.gethostname()}-{os.getpid()}-{id(app):x}"
    settings = app[SETTINGS]
    answers = AutoAnswers(
        app[DATABASE], app[RELAY], app[NOTICES], app[REPLY_SENDERS],
        acknowledge=frozenset(Channel(c) for c in settings.answers.acknowledge),
        timezone=settings.timezone)
    return Router(app[DATABASE], app[REDIS].client, app[KEYS], consumer=consumer,
                  reclaim_idle_ms=q.reclaim_idle_ms, events_maxlen=q.events_maxlen,
                  answer=answers.handle)


def _make_feed(app: web.Application) -> EventFeed:
    return EventFeed(app[REDIS].client, app[KEYS])




def _make_handback(app: web.Application) -> HandBack:
    c = app[SETTINGS].console
    return HandBack(app[DATABASE], app[RELAY], presence_api.board(app),
                    grace_s=c.presence_grace_s, check_s=c.presence_check_s)


def _make_offers(app: web.Application) -> Offers:
    return Offers(app[DATABASE], app[RELAY], app[REDIS].client, app[KEYS], app[LANES],
                  check_s=app[SETTINGS].queue.offer_check_s)


def _make_outbound(app: web.Application) -> OutboundWorker:
    o = app[SETTINGS].outbound
    senders: dict[str, Sender] = {
        name: adapter for name, adapter in app[ADAPTERS].items()  # type: ignore[misc]
        if adapter.can_reply
    }
    consumer = f"{socket.gethostname()}-{os.getpid()}-{id(app):x}"
    return OutboundWorker(app[DELIVERIES], app[REDIS].client, app[KEYS], senders,
                          consumer=consumer, max_attempts=o.max_attempts,
                          backoff_base_s=o.backoff_base_s, backoff_max_s=o.backoff_max_s,
                          poll_s=o.poll_s, send_timeout_s=o.send_timeout_s,
                          metrics=app[METRICS])


def _make_purge(app: web.Application) -> PurgeWorker:
    settings = app[SETTINGS]
    purge = Purge(app[DATABASE], app[REDIS].client, app[KEYS], settings.retention,
                  settings.data_dir)
    return PurgeWorker(purge, settings.retention.purge_interval_s)


def _make_webhooks(app: web.Application) -> Webhooks:
    consumer = f"{socket.gethostname()}-{os.getpid()}-{id(app):x}"
    return Webhooks(app[SETTINGS].webhooks, app[REDIS].client, app[KEYS],
                    WebhookLog(app[DATABASE]), consumer)


def _reply_senders(adapters: list[ChannelAdapter]) -> dict[Channel, list[str]]:
    found: dict[Channel, list[str]] = {}
    for adapter in adapters:
        if adapter.can_reply:
            found.setdefault(adapter.channel, []).append(adapter.name)
    return found


async def _http_client(app: web.Application) -> AsyncIterator[None]:
    """One client session for every gateway call; no proxy from the environment, so nothing
    leaves for a third party the operator did not configure."""
    timeout = ClientTimeout(total=app[SETTINGS].outbound.send_timeout_s, connect=10)
    app[DELIVERIES] = Deliveries(app[DATABASE], app[RELAY])
    async with ClientSession(timeout=timeout, trust_env=False) as session:
        app[HTTP_CLIENT] = session
        yield


def _background(name: str, key: web.AppKey[Any],
                make: Callable[[web.Application], Any]) -> CleanupContext:
    async def context(app: web.Application) -> AsyncIterator[None]:
        worker = make(app)
        app[key] = worker
        task = asyncio.create_task(worker.run(), name=name)
        task.add_done_callback(partial(_crashed, app))
        stop = getattr(worker, "stop", None)
        if stop is not None:
            app[LOOPS_TO_STOP].append(stop)
        yield
        # Loops that block in Redis stop at their next wake-up: cancelling a blocked
        # XREAD can leave redis-py waiting for the reply past the block time. Every loop
        # was told already (_stop_loops_together); this waits for this one.
        if stop is not None:
            stop()
            await asyncio.wait({task}, timeout=STOP_GRACE_S)
        await stop_task(task, STOP_GRACE_S)

    return context


def _crashed(app: web.Application, task: asyncio.Task[None]) -> None:
    """A loop that died is a hub that silently stopped working (events no longer published,
    requests no longer routed): said in the log, and by /healthz, so a supervisor restarts
    the process."""
    if not task.cancelled() and task.exception() is not None:
        log.critical("background task %s died", task.get_name(), exc_info=task.exception())
        app[DEAD_LOOPS].append(task.get_name())


def _channels(adapters: list[ChannelAdapter]) -> CleanupContext:
    async def context(app: web.Application) -> AsyncIterator[None]:
        settings, db, relay = app[SETTINGS], app[DATABASE], app[RELAY]
        redis, keys = app[REDIS].client, app[KEYS]
        # Each channel gets the narrow services of the core it needs, never these handles.
        services = HubServices(
            settings, app[INGESTOR], app[DELIVERIES], ChannelState(db), app[HTTP_CLIENT],
            calls=CallStore(db, app[INGESTOR], relay, settings.phone, app[NOTICES]),
            recordings=Recordings(db, relay, settings.data_dir),
            chat=ChatLive(db, redis, keys, relay, events_maxlen=settings.queue.events_maxlen,
                          connections_per_address=settings.chat.connections_per_address),
            sms_parts=SmsPartMarks(redis, keys),
            notices=PassengerNotices(db, app[NOTICES]), answers=app[ANSWERS])
        for adapter in adapters:
            await adapter.start(services)
        yield
        for adapter in reversed(adapters):
            await adapter.stop()

    return context


async def _stop_loops_together(app: web.Application) -> AsyncIterator[None]:
    """Last in the clean-up list, so first to end: tells every background loop to stop at
    once. Each stops at its next wake-up from Redis; told one at a time, as the clean-up
    reaches each, their waits added up (1.6 s for a hub to close)."""
    yield
    for stop in app[LOOPS_TO_STOP]:
        stop()


async def _summary(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    log.info(
        "TaxiConnect ready: database %r, Redis %s, channels %s, consumer %s",
        app[DATABASE], app[REDIS].where, ",".join(settings.channels.enabled),
        app[ROUTER].consumer,
    )
    yield


async def _close_websockets(app: web.Application) -> None:
    app[FEED].close_all()
    websockets = app[WEBSOCKETS]
    for ws in list(websockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=ErrorCode.HUB_STOPPING.value.encode())


async def _favicon(request: web.Request) -> web.FileResponse:
    """Browsers ask for /favicon.ico whatever the page names: the same icon, not a 404."""
    return web.FileResponse(WEB_ROOT / "favicon.svg",
                            headers={"Content-Type": "image/svg+xml",
                                     "Cache-Control": "max-age=86400"})


async def _console_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_ROOT / "console" / "index.html")


async def _to_console(request: web.Request) -> web.Response:
    raise web.HTTPFound("/console")
