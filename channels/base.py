"""The channel contract: what every adapter declares and does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

from aiohttp import web

from hub.ingest import Ingestor
from hub.model import Channel, InboundContact, IngestResult
from hub.settings import Settings


@dataclass(frozen=True, slots=True)
class HubServices:
    """What the hub lends an adapter: settings and the way in."""

    settings: Settings
    ingestor: Ingestor

    async def ingest(self, contact: InboundContact) -> IngestResult:
        return await self.ingestor.submit(contact)


class ChannelAdapter(Protocol):
    """An adapter declares what its channel is, serves its wire endpoints, and starts and
    stops inside the app. Channels that answer passengers also send replies (later issues).
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
