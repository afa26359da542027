"""The outbound worker: sends queued replies through their channel adapters.

Every hub process runs one. New deliveries arrive on the outbound stream (consumer group
`senders`, so each goes to one process at once); due retries and anything the stream lost are
found by polling the deliveries table. A delivery is leased before each attempt, so two
processes never send it at the same time; a gateway's failure schedules a retry with
exponential backoff until `max_attempts`, a refusal (bad number, invalid address) fails it
at once with the gateway's reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta

from aiohttp import ClientError
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.exc import SQLAlchemyError

from channels.base import Sender
from dispatch.deliveries import Deliveries
from hub.clock import utcnow
from hub.errors import BadInput, OperatorMustAct, RetryLater
from hub.keys import SENDER_GROUP, Keys
from hub.model import OutboundMessage

log = logging.getLogger(__name__)

READ_COUNT = 64
ERROR_BACKOFF_S = 1.0


class OutboundWorker:
    def __init__(self, deliveries: Deliveries, redis: Redis, keys: Keys,
                 senders: Mapping[str, Sender], *, consumer: str, max_attempts: int,
                 backoff_base_s: float, backoff_max_s: float, poll_s: float,
                 send_timeout_s: float) -> None:
        self._deliveries = deliveries
        self._redis = redis
        self._keys = keys
        self._senders = senders
        self.consumer = consumer
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._poll_s = poll_s
        self._send_timeout_s = send_timeout_s
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.retried = 0
        self.failed = 0

    def __repr__(self) -> str:
        return (f"<OutboundWorker {self.consumer} sent={self.sent} retried={self.retried} "
                f"failed={self.failed} in_flight={len(self._in_flight)}>")

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    await self._ensure_group()
                    await self._read_stream()
                    for delivery_id in await self._deliveries.due():
                        self._start(delivery_id)
                except (RedisError, SQLAlchemyError, OSError) as exc:
                    log.warning("outbound %s: %s; retrying", self.consumer, exc)
                    await asyncio.sleep(ERROR_BACKOFF_S)
        finally:
            if self._in_flight:
                await asyncio.wait(self._in_flight, timeout=self._send_timeout_s)

    async def _ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self._keys.outbound, SENDER_GROUP, id="0",
                                            mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _read_stream(self) -> None:
        response = await self._redis.xreadgroup(
            SENDER_GROUP, self.consumer, {self._keys.outbound: ">"}, count=READ_COUNT,
            block=max(1, int(self._poll_s * 1000)))
        for _stream, entries in response or []:
            ids = [entry_id for entry_id, _ in entries]
            # Acknowledged at once: the table, not the stream, remembers what is unsent.
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.xack(self._keys.outbound, SENDER_GROUP, *ids)
                pipe.xdel(self._keys.outbound, *ids)
                await pipe.execute()
            for _, fields in entries:
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    self._start(uuid.UUID(json.loads(fields["data"])["delivery_id"]))

    def _start(self, delivery_id: uuid.UUID) -> None:
        task = asyncio.create_task(self._attempt(delivery_id), name=f"send-{delivery_id}")
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _attempt(self, delivery_id: uuid.UUID) -> None:
        try:
            leased = await self._deliveries.lease(delivery_id, self._send_timeout_s * 2)
            if leased is None:
                return  # not due, already handled, or another process has it
            await self._send(*leased)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("outbound %s: delivery %s: %s; the lease runs out and it is retried",
                        self.consumer, delivery_id, exc)
        except Exception:
            log.exception("outbound %s: delivery %s failed unexpectedly; retried when its "
                          "lease runs out", self.consumer, delivery_id)

    async def _send(self, via: str, message: OutboundMessage) -> None:
        sender = self._senders.get(via)
        if sender is None:
            self.failed += 1
            await self._deliveries.fail(message.delivery_id, f"{via} is not enabled")
            return
        try:
            async with asyncio.timeout(self._send_timeout_s):
                receipt = await sender.send(message)
        except BadInput as exc:
            self.failed += 1
            # The reason (kept on the delivery) may quote the number or address: not logged.
            log.info("delivery %s refused by %s", message.delivery_id, via)
            await self._deliveries.fail(message.delivery_id, exc.reason)
        except (RetryLater, OperatorMustAct, ClientError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
            if isinstance(exc, OperatorMustAct):
                log.error("delivery %s via %s: %s", message.delivery_id, via, reason)
            if message.attempt >= self._max_attempts:
                self.failed += 1
                await self._deliveries.fail(
                    message.delivery_id, f"gave up after {message.attempt} attempts: {reason}")
                return
            self.retried += 1
            delay = min(self._backoff_max_s,
                        self._backoff_base_s * 2 ** (message.attempt - 1))
            await self._deliveries.retry(message.delivery_id, reason,
                                         utcnow() + timedelta(seconds=delay))
        else:
            self.sent += 1
            await self._deliveries.sent(message.delivery_id, receipt)

