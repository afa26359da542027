"""The read models' documents (`hub.read_models`), typed by key for the code that reads them.

These are the dicts the read models build and the console receives as they are; the
msgspec records in `hub.records` describe the same JSON for the schemas, and
tests/hub/test_read_json.py keeps the two declarations to the same keys.
"""

from __future__ import annotations

from typing import TypedDict

from hub.json_types import JsonObject


class AgentRefJson(TypedDict):
    id: str
    name: str


class ContactRefJson(TypedDict):
    id: str
    name: str | None
    phones: list[str]
    emails: list[str]


class OfferJson(TypedDict):
    agent: AgentRefJson
    expires_at: str | None


class TimingsJson(TypedDict):
    case_started_at: str | None
    queued_at: str | None
    service_started_at: str | None
    first_response_at: str | None
    ended_at: str | None
    processing_delay_s: float | None
    queue_wait_s: float | None
    total_service_time_s: float | None
    first_response_delay_s: float | None


class RequestSummaryJson(TypedDict):
    """A request as a console's queue shows it; every request event carries one."""

    id: str
    version: int
    reference: str
    status: str
    channel: str
    lane: str | None
    priority: int
    preview: str | None
    details: JsonObject
    contact: ContactRefJson
    assigned_agent: AgentRefJson | None
    last_agent: AgentRefJson | None
    offer: OfferJson | None
    last_message_at: str | None
    timings: TimingsJson


class DeliveryJson(TypedDict):
    id: str
    state: str
    recipient: str
    via: str
    attempts: int
    reason: str | None
    updated_at: str


class MessageJson(TypedDict):
    id: str
    channel: str
    direction: str
    subject: str | None
    body: str
    details: JsonObject | None
    created_at: str | None
    agent: AgentRefJson | None
    deliveries: list[DeliveryJson]


class HistoryEntryJson(TypedDict):
    id: str
    action: str
    at: str | None
    note: str | None
    agent: AgentRefJson | None
    target_agent: AgentRefJson | None


class CallJson(TypedDict):
    id: str
    provider: str
    direction: str
    caller: str
    called: str
    state: str
    cause: str | None
    agent: AgentRefJson | None
    started_at: str | None
    answered_at: str | None
    ended_at: str | None
    ring_time_s: float | None
    talk_time_s: float | None


class RecordingJson(TypedDict):
    id: str
    call_id: str
    kind: str
    provider: str
    name: str
    duration_s: float | None
    completed_at: str | None
    transcription: str | None
    created_at: str | None
    listens: int
    audio_url: str


class RequestDetailJson(RequestSummaryJson):
    """A request with its messages, handling history, calls and recordings."""

    messages: list[MessageJson]
    history: list[HistoryEntryJson]
    calls: list[CallJson]
    recordings: list[RecordingJson]
