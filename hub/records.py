"""The records the console sees, typed: a request's summary and detail, its calls, messages,
deliveries and recordings, an agent, a notice, a dispatcher's presence.

They describe the JSON the read models (`hub.read_models`) and the API already produce, so
that one declaration gives the event catalogue (`hub.events`) and the OpenAPI components
(`hub.openapi`) their schemas. Times are ISO 8601 text as the hub writes them; ids are UUIDs
as text. A record forbids unknown fields: a field added to the JSON but not here fails the
contract tests, so the documents cannot fall behind the code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec


class _Record(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Keyword-only (optional fields anywhere), and strict about its fields."""


Status = Literal["queued", "claimed", "resolved"]


class AgentRef(_Record, kw_only=True):
    """Who: an agent's id and name, wherever a record names one."""

    id: str
    name: str


class ContactRef(_Record, kw_only=True):
    id: str
    name: str | None
    phones: list[str]
    emails: list[str]


class Offer(_Record, kw_only=True):
    """An open offer: only this agent (or an admin) may claim the request until it expires."""

    agent: AgentRef
    expires_at: datetime | None


class Timings(_Record, kw_only=True):
    """The request's clock (design invariant 6), and the spans that come of it, in seconds."""

    case_started_at: datetime | None
    queued_at: datetime | None
    service_started_at: datetime | None
    first_response_at: datetime | None
    ended_at: datetime | None
    processing_delay_s: float | None
    queue_wait_s: float | None
    total_service_time_s: float | None
    first_response_delay_s: float | None


class RequestSummary(_Record, kw_only=True):
    """A request as a console's queue shows it; every request event carries one."""

    id: str
    version: int  # grows with every change: a console keeps the highest
    reference: str
    status: Status
    channel: str
    lane: str | None
    priority: int
    preview: str | None
    details: dict[str, Any] | None
    contact: ContactRef
    assigned_agent: AgentRef | None
    last_agent: AgentRef | None
    offer: Offer | None
    last_message_at: datetime | None
    timings: Timings


class Delivery(_Record, kw_only=True):
    """One attempt to carry an outbound message to one recipient, and its state."""

    id: str
    state: str
    recipient: str
    via: str  # the adapter
    attempts: int
    reason: str | None
    updated_at: datetime


class Message(_Record, kw_only=True):
    id: str
    channel: str
    direction: Literal["inbound", "outbound"]
    subject: str | None
    body: str
    details: dict[str, Any] | None
    created_at: datetime | None
    agent: AgentRef | None
    deliveries: list[Delivery]


class HistoryEntry(_Record, kw_only=True):
    """One handling event of the request's history."""

    id: str
    action: str
    at: datetime | None
    note: str | None
    agent: AgentRef | None
    target_agent: AgentRef | None


class Call(_Record, kw_only=True):
    """A phone call; ring time runs from the start to the answer (or the end, unanswered),
    talk time from the answer to the end."""

    id: str
    provider: str
    direction: str
    caller: str
    called: str
    state: str
    cause: str | None
    agent: AgentRef | None
    started_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    ring_time_s: float | None
    talk_time_s: float | None


class Recording(_Record, kw_only=True):
    """A recording's metadata, never its provider URL: `audio_url` plays it and records the
    listen."""

    id: str
    call_id: str
    kind: str
    provider: str
    name: str
    duration_s: float | None
    completed_at: datetime | None
    transcription: str | None
    created_at: datetime | None
    listens: int
    audio_url: str


class RequestDetail(RequestSummary, kw_only=True):
    """A request with its messages, handling history, calls and recordings."""

    messages: list[Message]
    history: list[HistoryEntry]
    calls: list[Call]
    recordings: list[Recording]


class Handling(_Record, kw_only=True):
    """The handling event an action recorded (`note` absent where the action takes none)."""

    action: str
    agent: AgentRef
    at: datetime
    note: str | msgspec.UnsetType | None = msgspec.UNSET


class PreviousRequest(_Record, kw_only=True):
    id: str
    reference: str
    status: Status
    channel: str
    at: datetime


class CallerProfile(_Record, kw_only=True):
    """Who is calling, shown before the dispatcher speaks (emptied for external users)."""

    name: str | None
    known: bool
    previous_requests: list[PreviousRequest]
    pickup_addresses: list[str]


class NoticeText(_Record, kw_only=True):
    fi: str
    en: str
    sv: str | None = None  # optional: Swedish-speaking passengers get `fi` without it


class Notice(_Record, kw_only=True):
    """A service notice (e.g. a storm) told to passengers on the channels and lanes named."""

    id: str
    text: NoticeText
    channels: list[str]
    lanes: list[str]
    announcement_only: bool
    valid_from: datetime
    valid_until: datetime | None
    ended_at: datetime | None


class Holding(_Record, kw_only=True):
    count: int
    references: list[str]


PresenceState = Literal["available", "busy", "away", "offline"]


class Presence(_Record, kw_only=True):
    """A dispatcher's presence: the state others see, the one they chose, and what they hold."""

    agent: AgentRef
    state: PresenceState
    chosen_state: PresenceState
    online: bool
    since: datetime | None
    holding: Holding


class Viewer(_Record, kw_only=True):
    """A dispatcher who has the request open (and whether they are typing)."""

    id: str
    name: str
    typing: bool
    until: float  # unix seconds: gone unless heard from again by then


class Me(_Record, kw_only=True):
    """The logged-in agent."""

    id: str
    login: str
    name: str
    role: Literal["admin", "team", "external"]
    email: str | None
    phone: str | None
    phone_login: str | None


def component_schemas(*types: Any, ref_template: str = "#/components/schemas/{name}"
                      ) -> dict[str, Any]:
    """The JSON Schemas of `types` and of every record they hold, by name, for a document's
    `components.schemas` (the OpenAPI's and the AsyncAPI's)."""
    _, components = msgspec.json.schema_components(types, ref_template=ref_template)
    return components
