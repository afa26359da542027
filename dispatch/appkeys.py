"""Typed keys for what the application holds of dispatch's, set by `hub.app.create_app`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from channels.base import ChannelAdapter
    from dispatch.feed import EventFeed
    from dispatch.handback import HandBack
    from dispatch.offers import Offers
    from dispatch.outbound import OutboundWorker
    from dispatch.presence import PresenceFanout
    from dispatch.router import Router
    from dispatch.session_check import SessionCheck
    from dispatch.webhooks import Webhooks

ROUTER: web.AppKey[Router] = web.AppKey("router")
FEED: web.AppKey[EventFeed] = web.AppKey("feed")
ADAPTERS: web.AppKey[dict[str, ChannelAdapter]] = web.AppKey("adapters")  # enabled, by name
OUTBOUND: web.AppKey[OutboundWorker] = web.AppKey("outbound")
HANDBACK: web.AppKey[HandBack] = web.AppKey("handback")
PRESENCE_FANOUT: web.AppKey[PresenceFanout] = web.AppKey("presence_fanout")
OFFERS: web.AppKey[Offers] = web.AppKey("offers")
SESSION_CHECK: web.AppKey[SessionCheck] = web.AppKey("session_check")
WEBHOOKS: web.AppKey[Webhooks] = web.AppKey("webhooks")
