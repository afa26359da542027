"""Typed keys for what the application holds of the core's, set by `hub.app.create_app`.

What dispatch's own workers hold is keyed in `dispatch.appkeys`: the core never reads it.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiohttp import web

from hub.model import Channel

if TYPE_CHECKING:
    from aiohttp import ClientSession

    from hub.answer_book import AnswerBook
    from hub.client_address import Network
    from hub.database import Database
    from hub.deliveries import Deliveries
    from hub.ingest import Ingestor
    from hub.keys import Keys
    from hub.lane_book import LaneBook
    from hub.metrics import Metrics
    from hub.notices import NoticeBoard
    from hub.outbox import OutboxRelay
    from hub.purge import PurgeWorker
    from hub.redis_client import RedisConnection
    from hub.redis_watch import RedisWatch
    from hub.sessions import Sessions
    from hub.settings import Settings

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DATABASE: web.AppKey[Database] = web.AppKey("database")
REDIS: web.AppKey[RedisConnection] = web.AppKey("redis")
KEYS: web.AppKey[Keys] = web.AppKey("keys")
RELAY: web.AppKey[OutboxRelay] = web.AppKey("relay")
INGESTOR: web.AppKey[Ingestor] = web.AppKey("ingestor")
SESSIONS: web.AppKey[Sessions] = web.AppKey("sessions")
TRUSTED_PROXIES: web.AppKey[tuple[Network, ...]] = web.AppKey("trusted_proxies")
WEBSOCKETS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("websockets")
# Channel -> names of the enabled adapters that send on it.
REPLY_SENDERS: web.AppKey[Mapping[Channel, list[str]]] = web.AppKey("reply_senders")
HTTP_CLIENT: web.AppKey[ClientSession] = web.AppKey("http_client")
DELIVERIES: web.AppKey[Deliveries] = web.AppKey("deliveries")
LANES: web.AppKey[LaneBook] = web.AppKey("lanes")
NOTICES: web.AppKey[NoticeBoard] = web.AppKey("notices")
ANSWERS: web.AppKey[AnswerBook] = web.AppKey("answers")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
PURGE: web.AppKey[PurgeWorker] = web.AppKey("purge")
REDIS_WATCH: web.AppKey[RedisWatch] = web.AppKey("redis_watch")
# Background loops that ended with an exception: the hub can no longer do its job.
DEAD_LOOPS: web.AppKey[list[str]] = web.AppKey("dead_loops")
