"""A worked example: a receiver of TaxiConnect's outbound webhooks, as a taxi dispatch system
would run it to create a ride from each `order.ready`.

It stands alone (aiohttp only, no TaxiConnect import): copy it into your own system.

    TAXICONNECT_WEBHOOK_SECRET='the endpoint secret' python examples/webhook_receiver.py
    # listens on :8090; configure the hub with url = "http://this-host:8090/taxiconnect"

What a receiver must do, in order:
1. Verify `X-TaxiConnect-Signature: t=<unix>,v1=<hex>`: v1 is HMAC-SHA256 with the shared
   secret over "<t>." + the raw body bytes (before any JSON parsing). Refuse a t more than
   five minutes from your clock (a replayed request). During a secret rotation the header
   may carry several v1=; accept any match. Answer 401 when it does not verify.
2. De-duplicate by the event id (`X-TaxiConnect-Event-Id`, also `Idempotency-Key` and the
   body's `id`): the hub sends an event again when it did not get your 2xx (a timeout, a
   restart), always with the same id. Keep the ids you have handled in your database with
   a unique key; here a set stands in for it.
3. Answer 2xx only once the event is safely stored. Answer 5xx (or 429) to be asked again
   later; the hub retries with growing pauses. Any other 4xx tells the hub not to retry.

Bodies are JSON, `version` 1: `id`, `type` (request.created, request.claimed,
request.resolved, order.ready), `occurred_at`, `request` (id, reference, channel, lane,
status, version, timings); `order.ready` adds `order` (pickup_address, pickup_time,
destination, passengers) and `passenger` (name, phone).

A request can give more than one `order.ready`: a dispatcher's "Send order" sends its order
again as a new event (a new id, a higher `request.version`), for instance after the passenger
called to change it. Keep one ride per `request.id` and update it with the newest version;
`create_ride` below only logs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger("webhook_receiver")

TOLERANCE_S = 300
RECEIVER: web.AppKey[Receiver] = web.AppKey("receiver")
Handler = Callable[[dict[str, Any]], Awaitable[None]]


def signature_ok(body: bytes, header: str, secret: str, now: float) -> bool:
    t, given = "", []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            t = value
        elif key == "v1":
            given.append(value)
    if not given or not t.isdigit() or abs(now - int(t)) > TOLERANCE_S:
        return False
    expected = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, g) for g in given)


class Receiver:
    """Verifies, de-duplicates, then hands each event to `handle` once."""

    def __init__(self, secret: str, handle: Handler) -> None:
        self._secret = secret
        self._handle = handle
        self.handled: set[str] = set()  # in production: a table with the id as unique key
        self._busy: set[str] = set()

    async def post(self, request: web.Request) -> web.Response:
        body = await request.read()
        header = request.headers.get("X-TaxiConnect-Signature", "")
        if not signature_ok(body, header, self._secret, time.time()):
            return web.json_response({"error": "bad signature"}, status=401)
        event = json.loads(body)
        event_id = request.headers.get("X-TaxiConnect-Event-Id", "")
        if event_id != event.get("id"):
            return web.json_response({"error": "event id mismatch"}, status=400)
        if event_id in self.handled:
            return web.json_response({"duplicate": True})
        if event_id in self._busy:  # the same event arriving twice at once
            return web.json_response({"error": "in progress"}, status=429)
        self._busy.add(event_id)
        try:
            await self._handle(event)
            self.handled.add(event_id)
        finally:
            self._busy.discard(event_id)
        return web.json_response({"ok": True})


async def create_ride(event: dict[str, Any]) -> None:
    """Stand-in for the dispatch system's own work."""
    if event["type"] == "order.ready":
        order = event["order"]
        log.info("ride for %s from %s at %s", event["request"]["reference"],
                 order["pickup_address"], order["pickup_time"])
    else:
        log.info("%s %s", event["type"], event["request"]["reference"])


def make_app(secret: str, handle: Handler = create_ride, path: str = "/taxiconnect"
             ) -> web.Application:
    receiver = Receiver(secret, handle)
    app = web.Application()
    app[RECEIVER] = receiver
    app.router.add_post(path, receiver.post)
    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    secret = os.environ["TAXICONNECT_WEBHOOK_SECRET"]
    web.run_app(make_app(secret), port=int(os.environ.get("PORT", "8090")))


if __name__ == "__main__":
    main()
