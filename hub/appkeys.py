"""Typed keys for what the application holds, set by `hub.app.create_app`."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    pass

SETTINGS = web.AppKey("settings", "Settings")
DATABASE = web.AppKey("database", "Database")
REDIS = web.AppKey("redis", "RedisConnection")
KEYS = web.AppKey("keys", "Keys")
RELAY = web.AppKey("relay", "OutboxRelay")
INGESTOR = web.AppKey("ingestor", "Ingestor")
ROUTER = web.AppKey("router", "Router")
FEED = web.AppKey("feed", "EventFeed")
SESSIONS = web.AppKey("sessions", "Sessions")
TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple)
WEBSOCKETS = web.AppKey("websockets", weakref.WeakSet[web.WebSocketResponse])
ADAPTERS = web.AppKey("adapters", dict)  # enabled channel adapters by name
REPLY_SENDERS = web.AppKey("reply_senders", dict)  # Channel -> adapter names that send on it
HTTP_CLIENT = web.AppKey("http_client", "ClientSession")
DELIVERIES = web.AppKey("deliveries", "Deliveries")
OUTBOUND = web.AppKey("outbound", "OutboundWorker")
HANDBACK = web.AppKey("handback", "HandBack")
PRESENCE_FANOUT = web.AppKey("presence_fanout", "PresenceFanout")
LANES = web.AppKey("lanes", "LaneBook")
OFFERS = web.AppKey("offers", "Offers")
NOTICES = web.AppKey("notices", "NoticeBoard")
ANSWERS = web.AppKey("answers", "AnswerBook")
SESSION_CHECK = web.AppKey("session_check", "SessionCheck")
METRICS = web.AppKey("metrics", "Metrics")
PURGE = web.AppKey("purge", "PurgeWorker")
