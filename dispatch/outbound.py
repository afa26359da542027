"""The outbound worker: sends queued replies through their channel adapters.

Every hub process runs one. New deliveries arrive on the outbound stream (consumer group
`senders`, so each goes to one process at once); due retries and anything the stream lost are
found by polling the deliveries table. Deliveries are leased in rounds, one transaction per
round, so two processes never send one at the same time; the results of the sends finished
meanwhile are recorded together in one transaction too (on SQLite each commit is a disk
sync: three per reply were the ceiling). A gateway's failure schedules a retry with
exponential backoff until `max_attempts`; a refusal (bad number, invalid address) fails the
delivery at once with the gateway's reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import timedelta

from aiohttp import ClientError
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.exc import SQLAlchemyError

from channels.base import Sender
from hub.clock import utcnow
from hub.deliveries import Deliveries, DeliveryChange, failed, retry, sent
from hub.errors import BadInput, OperatorMustAct, RetryLater
from hub.keys import SENDER_GROUP, Keys
from hub.metrics import Metrics
from hub.model import DeliveryState, OutboundMessage
from hub.redis_client import stream_reply
from hub.tasks import pause, stop_task

log = logging.getLogger(__name__)

READ_COUNT = 256
MAX_IN_FLIGHT = 128  # sends under way at once per process; the rest wait, due, in the table
ERROR_BACKOFF_S = 1.0
# With more due than fit (a group message to hundreds), the next round starts as soon as a
# send finishes instead of after a whole poll interval.
BACKLOG_BLOCK_MS = 10
# The longest one read of the stream blocks: also how long a stop waits for the worker to
# notice (a stop cannot cut a blocked XREADGROUP short). The table is polled every poll_s.
STREAM_BLOCK_MS = 250

Outcome = tuple[uuid.UUID, DeliveryChange]


class OutboundWorker:
    def __init__(self, deliveries: Deliveries, redis: Redis, keys: Keys,
                 senders: Mapping[str, Sender], *, consumer: str, max_attempts: int,
                 backoff_base_s: float, backoff_max_s: float, poll_s: float,
                 send_timeout_s: float, metrics: Metrics | None = None) -> None:
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
        self._metrics = metrics
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._outcomes: list[Outcome] = []
        self._outcome_ready = asyncio.Event()
        self._room = asyncio.Event()  # a send finished: room for another
        self._backlog = False  # more were due than fitted in the last round
        self.sent = 0
        self.retried = 0
        self.failed = 0

    def __repr__(self) -> str:
        return (f"<OutboundWorker {self.consumer} sent={self.sent} retried={self.retried} "
                f"failed={self.failed} in_flight={len(self._in_flight)}>")

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        recorder = asyncio.create_task(self._record_outcomes(), name="outbound-recorder")
        poll_at = 0.0
        try:
            while not self._stopping.is_set():
                try:
                    await self._ensure_group()
                    if self._backlog and len(self._in_flight) >= MAX_IN_FLIGHT:
                        self._room.clear()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._room.wait(), self._poll_s)
                    wanted = set(await self._read_stream())
                    room = MAX_IN_FLIGHT - len(self._in_flight)
                    # The table holds retries coming due and whatever the stream lost: read
                    # it each poll_s, and at once while a backlog or new entries are there.
                    if room > 0 and (wanted or self._backlog or time.monotonic() >= poll_at):
                        poll_at = time.monotonic() + self._poll_s
                        due = await self._deliveries.due(MAX_IN_FLIGHT)
                        wanted.update(due)
                        self._backlog = len(wanted) > room or len(due) >= MAX_IN_FLIGHT
                        await self._lease_and_send(wanted)
                except (RedisError, SQLAlchemyError, OSError) as exc:
                    log.warning("outbound %s: %s; retrying", self.consumer, exc)
                    await pause(self._stopping, ERROR_BACKOFF_S)
        finally:
            if self._in_flight:
                await asyncio.wait(self._in_flight, timeout=self._send_timeout_s)
            await stop_task(recorder)
            await self._flush()

    async def _ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self._keys.outbound, SENDER_GROUP, id="0",
                                            mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _read_stream(self) -> list[uuid.UUID]:
        response = await self._redis.xreadgroup(
            SENDER_GROUP, self.consumer, {self._keys.outbound: ">"}, count=READ_COUNT,
            block=BACKLOG_BLOCK_MS if self._backlog else max(
                1, min(STREAM_BLOCK_MS, int(self._poll_s * 1000))))
        found: list[uuid.UUID] = []
        for _stream, entries in stream_reply(response):
            ids = [entry_id for entry_id, _ in entries]
            # Acknowledged at once: the table, not the stream, remembers what is unsent.
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.xack(self._keys.outbound, SENDER_GROUP, *ids)
                pipe.xdel(self._keys.outbound, *ids)
                await pipe.execute()
            for _, fields in entries:
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    found.append(uuid.UUID(json.loads(fields["data"])["delivery_id"]))
        return found

    async def _lease_and_send(self, wanted: set[uuid.UUID]) -> None:
        room = MAX_IN_FLIGHT - len(self._in_flight)
        if not wanted or room <= 0:
            return
        # What does not fit now stays due in the table and is polled again.
        leased = await self._deliveries.lease_many(sorted(wanted)[:room],
                                                   self._send_timeout_s * 2)
        for via, message in leased:
            task = asyncio.create_task(self._attempt(via, message),
                                       name=f"send-{message.delivery_id}")
            self._in_flight.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._room.set()

    async def _attempt(self, via: str, message: OutboundMessage) -> None:
        try:
            outcome = await self._send(via, message)
        except Exception:
            log.exception("outbound %s: delivery %s failed unexpectedly; retried when its "
                          "lease runs out", self.consumer, message.delivery_id)
            return
        self._outcomes.append((message.delivery_id, outcome))
        self._outcome_ready.set()

    async def _send(self, via: str, message: OutboundMessage) -> DeliveryChange:
        started = time.perf_counter()
        outcome = await self._send_once(via, message)
        if self._metrics is not None and via in self._senders:
            self._metrics.outbound_send.labels(via).observe(time.perf_counter() - started)
            self._metrics.deliveries.labels(via, _outcome(outcome)).inc()
        return outcome

    async def _send_once(self, via: str, message: OutboundMessage) -> DeliveryChange:
        sender = self._senders.get(via)
        if sender is None:
            self.failed += 1
            return failed(f"{via} is not enabled")
        try:
            async with asyncio.timeout(self._send_timeout_s):
                receipt = await sender.send(message)
        except BadInput as exc:
            self.failed += 1
            # The reason (kept on the delivery) may quote the number or address: not logged.
            log.info("delivery %s refused by %s", message.delivery_id, via)
            return failed(exc.reason)
        except (RetryLater, OperatorMustAct, ClientError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
            if isinstance(exc, OperatorMustAct):
                log.error("delivery %s via %s: %s", message.delivery_id, via, reason)
            if message.attempt >= self._max_attempts:
                self.failed += 1
                return failed(f"gave up after {message.attempt} attempts: {reason}")
            self.retried += 1
            delay = min(self._backoff_max_s,
                        self._backoff_base_s * 2 ** (message.attempt - 1))
            return retry(reason, utcnow() + timedelta(seconds=delay))
        self.sent += 1
        return sent(receipt)

    async def _record_outcomes(self) -> None:
        while True:
            await self._outcome_ready.wait()
            self._outcome_ready.clear()
            await self._flush()

    async def _flush(self) -> None:
        outcomes, self._outcomes = self._outcomes, []
        if not outcomes:
            return
        try:
            await self._deliveries.finish_many(outcomes)
        except (SQLAlchemyError, OSError) as exc:
            # The leases run out and the deliveries are attempted again: a reply may go out
            # twice, never not at all.
            log.warning("outbound %s: could not record %d results: %s", self.consumer,
                        len(outcomes), exc)


def _outcome(change: DeliveryChange) -> str:
    """A send's delivery change as a metric label: sent, failed or retried."""
    if "state" not in change:
        return "retried"
    return "failed" if change["state"] == DeliveryState.FAILED.value else "sent"
