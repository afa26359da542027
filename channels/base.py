"""The channel contract: what every adapter declares and does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

from aiohttp import ClientSession, web

from hub.answer_book import AnswerBook
from hub.calls import CallStore
from hub.channel_state import ChannelState
from hub.chat_live import ChatLive
from hub.deliveries import Deliveries
from hub.ingest import Ingestor
from hub.model import Channel, InboundContact, IngestResult, Notice, OutboundMessage, SendReceipt
from hub.passenger_notices import PassengerNotices
from hub.recordings import Recordings
from hub.settings import Settings
from hub.sms_part_marks import SmsPartMarks


@dataclass(frozen=True, slots=True)
class HubServices:
    """What the hub lends an adapter: settings, the way in, delivery reports, the state it
    keeps across restarts, and one HTTP client session for calling gateways. Channels with
    live state of their own get the core's narrow services for it (calls and recordings for
    the phone, the chat's live side, the marks of stored SMS parts), never a database or
    Redis handle: the composition root builds these."""

    settings: Settings
    ingestor: Ingestor
    deliveries: Deliveries
    state: ChannelState
    http: ClientSession
    calls: CallStore
    recordings: Recordings
    chat: ChatLive
    sms_parts: SmsPartMarks
    notices: PassengerNotices | None = None
    answers: AnswerBook | None = None

    async def ingest(self, contact: InboundContact) -> IngestResult:
        return await self.ingestor.submit(contact)

    async def notice(self, channel: Channel, request_id: uuid.UUID | None) -> Notice | None:
        """The active service notice to give this passenger in the channel's own answer,
        once per passenger (None: no notice, or they have had it)."""
        if self.notices is None:
            return None
        return await self.notices.once(channel, request_id)

    async def first_answer(self, channel: Channel, result: IngestResult, name: str | None,
                           language: str) -> str | None:
        """A new request's out-of-hours answer or acknowledgement (with its reference and
        the estimated wait), for a channel that answers in its own response. No query:
        what ingest returned and what the answer book keeps in hand."""
        if self.answers is None:
            return None
        return await self.answers.first_answer(
            result, name, language,
            acknowledge=channel.value in self.settings.answers.acknowledge)


class ChannelAdapter(Protocol):
    """An adapter declares what its channel is, serves its wire endpoints, and starts and
    stops inside the app. One with `can_reply` also sends replies (`send`, see Sender).
    """

    name: ClassVar[str]
    channel: ClassVar[Channel]
    max_body_chars: ClassVar[int]
    can_reply: ClassVar[bool]

    def routes(self) -> list[web.RouteDef]:
        """HTTP endpoints the channel serves (webhooks, hosted pages)."""
        ...

    async def start(self, services: HubServices) -> None:
        """Called once the hub's stores are open; start listeners and pollers here."""
        ...

    async def stop(self) -> None:
        ...


class Sender(Protocol):
    """An adapter that can answer: sends one message to one recipient.

    Raises `BadInput` when the gateway refuses the message for good (invalid number: the
    delivery fails with that reason) and `RetryLater` when it may work later (5xx, timeout,
    throttling: the delivery is retried with backoff).
    """

    async def send(self, message: OutboundMessage) -> SendReceipt:
        ...


@runtime_checkable
class CallOriginator(Protocol):
    """An adapter that can call a passenger back: it rings the dispatcher's own phone at
    `extension` (their phone login), then dials the passenger's `number` (E.164) for request
    `reference`. Dispatch finds it with `channels.registry.call_originator`, never by its
    class, so a PBX adapter declares the capability by having this method.

    Returns the PBX's id for the call. Raises `RetryLater` when the PBX is away, refuses or
    does not answer, and `BadInput` when the extension or number cannot be dialled.
    """

    async def originate(self, *, extension: str, number: str, reference: str) -> str:
        ...
