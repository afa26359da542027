"""The domain model: plain data, no storage and no I/O.

Every inbound contact, whatever its channel, becomes an `InboundContact`; ingest turns it
into a `Message` on a `ContactRequest` of a `Contact` (the passenger).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypedDict


class Channel(StrEnum):
    PHONE = "phone"
    SMS = "sms"
    EMAIL = "email"
    CHAT = "chat"
    WEBFORM = "webform"


class IdentityKind(StrEnum):
    """How a passenger is recognised again: an E.164 number, an email address, a chat visitor."""

    PHONE = "phone"
    EMAIL = "email"
    CHAT = "chat"


class RequestStatus(StrEnum):
    QUEUED = "queued"
    CLAIMED = "claimed"
    RESOLVED = "resolved"


OPEN_STATUSES: frozenset[RequestStatus] = frozenset(
    {RequestStatus.QUEUED, RequestStatus.CLAIMED}
)


class CallbackState(StrEnum):
    """A request's callback: asked for (a missed call, out of hours, a chat nobody could
    take), then done once the passenger was reached. None: not a callback request."""

    REQUESTED = "requested"
    DONE = "done"


class CallbackOutcome(StrEnum):
    """What came of calling a passenger back, as the dispatcher records it."""

    REACHED = "reached"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    WRONG_NUMBER = "wrong_number"
    LEFT_MESSAGE = "left_message"


@dataclass(frozen=True, slots=True)
class CallbackAsk:
    """A new request that asks to be called back: by `due_at` (None: no deadline known),
    on `number` (None: the passenger's own)."""

    due_at: datetime | None = None
    number: str | None = None


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class DeliveryState(StrEnum):
    """Where an outbound message is: waiting for the sender, accepted by the gateway or relay,
    confirmed delivered, or given up on (with a reason)."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"


# Gateways report out of order (a late "sent" after "delivered"): a state never goes back
# to a lower rank. FAILED outranks SENT so an undelivered report sticks, but a DELIVERED one
# (a receipt for a retry that got through) outranks it.
DELIVERY_RANK: dict[DeliveryState, int] = {
    DeliveryState.QUEUED: 0, DeliveryState.SENT: 1, DeliveryState.FAILED: 2,
    DeliveryState.DELIVERED: 3,
}


class Role(StrEnum):
    ADMIN = "admin"
    TEAM = "team"
    EXTERNAL = "external"


class HandlingAction(StrEnum):
    CLAIM = "claim"
    RELEASE = "release"
    TRANSFER = "transfer"
    NOTE = "note"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    REPLY = "reply"
    OFFER = "offer"  # offered to one dispatcher, who alone may take it until it expires
    OFFER_TIMEOUT = "offer_timeout"  # not taken in time (or the dispatcher left)
    DECLINE = "decline"  # the offered dispatcher turned it down
    ORDER = "order"  # the order sent to the company's dispatch system (webhook order.ready)
    CALLBACK_CALL = "callback_call"  # "call now": the dispatcher called the passenger back
    # What came of calling back, as the dispatcher recorded it (dispatch.callback_actions).
    CALLBACK_REACHED = "cb_reached"
    CALLBACK_NO_ANSWER = "cb_no_answer"
    CALLBACK_BUSY = "cb_busy"
    CALLBACK_WRONG_NUMBER = "cb_wrong_number"
    CALLBACK_LEFT_MESSAGE = "cb_left_message"


@dataclass(frozen=True, slots=True)
class InboundContact:
    """One message from a passenger, normalised by a channel adapter.

    `idempotency_key` is the channel's own id for the message (gateway message id, email
    Message-ID, chat client message id, form submission token): a retry carries the same key.
    """

    channel: Channel
    idempotency_key: str
    received_at: datetime
    body: str
    name: str | None = None
    phone: str | None = None  # E.164
    email: str | None = None  # lower-cased
    chat_visitor: str | None = None
    subject: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    # Where the message says it belongs (email): ids of messages it answers (Message-IDs,
    # ours or the passenger's), and a request reference. `reference_verified` when the
    # reference came signed (a reply+TOKEN address), not just typed in a subject line.
    thread_refs: tuple[str, ...] = ()
    thread_reference: str | None = None
    reference_verified: bool = False
    # A new request from this contact asks to be called back (a chat nobody can take live).
    callback: CallbackAsk | None = None

    def identities(self) -> list[tuple[IdentityKind, str]]:
        found = [
            (IdentityKind.PHONE, self.phone),
            (IdentityKind.EMAIL, self.email),
            (IdentityKind.CHAT, self.chat_visitor),
        ]
        return [(kind, value) for kind, value in found if value]


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What ingest answers for one `InboundContact` once it is committed."""

    request_id: uuid.UUID
    reference: str
    message_id: uuid.UUID
    new_request: bool
    duplicate: bool  # the idempotency key was seen before: nothing new was stored
    # Known for what this contact stored (not for a duplicate), so a channel that answers in
    # its own response (the web form's confirmation) needs no query after the commit:
    contact_id: uuid.UUID | None = None
    lane: str | None = None
    callback_due_at: str | None = None  # a new request that came while its lane was closed
    # The service notice this passenger gets in the channel's own answer, recorded as given
    # in the same transaction (web form); None when there is none or they had it already.
    notice: Notice | None = None


@dataclass(frozen=True, slots=True)
class Timings:
    """A request's contact-centre timestamps and the durations reported from them."""

    case_started_at: datetime
    queued_at: datetime | None = None
    service_started_at: datetime | None = None
    first_response_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def processing_delay(self) -> timedelta | None:
        """From the first contact to the start of service (first claim or answer)."""
        return _between(self.case_started_at, self.service_started_at)

    @property
    def queue_wait(self) -> timedelta | None:
        """From entering the queue to the start of service."""
        return _between(self.queued_at, self.service_started_at)

    @property
    def total_service_time(self) -> timedelta | None:
        """From the start of service to the end (resolve)."""
        return _between(self.service_started_at, self.ended_at)

    @property
    def first_response_delay(self) -> timedelta | None:
        return _between(self.case_started_at, self.first_response_at)


def _between(start: datetime | None, end: datetime | None) -> timedelta | None:
    if start is None or end is None:
        return None
    return end - start


@dataclass(frozen=True, slots=True)
class DeliveryUpdate:
    """A gateway's report on a message it took: a status callback or delivery receipt."""

    provider_id: str
    state: DeliveryState
    reason: str | None = None
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file a message carries, kept by content hash under the data folder."""

    name: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One reply to send to one recipient, as the outbound worker hands it to an adapter.

    `thread` carries what the channel needs to keep the conversation together (email:
    message_id, in_reply_to, references, reply_to).
    """

    delivery_id: uuid.UUID
    message_id: uuid.UUID
    request_id: uuid.UUID
    request_reference: str
    channel: Channel
    recipient: str
    body: str
    attempt: int
    subject: str | None = None
    agent_name: str | None = None
    thread: Mapping[str, str] = field(default_factory=dict)
    attachments: tuple[FileRef, ...] = ()  # email only: sent as MIME parts


@dataclass(frozen=True, slots=True)
class SendReceipt:
    """What the gateway answered when it accepted a message."""

    provider_id: str | None
    state: DeliveryState = DeliveryState.SENT


@dataclass(frozen=True, slots=True)
class Agent:
    id: uuid.UUID
    login: str
    name: str
    role: Role
    email: str | None = None
    phone: str | None = None
    phone_login: str | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class Identity:
    kind: IdentityKind
    value: str


@dataclass(frozen=True, slots=True)
class Contact:
    """A passenger, known by one or more identities across channels."""

    id: uuid.UUID
    name: str | None
    identities: tuple[Identity, ...] = ()
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ContactRequest:
    id: uuid.UUID
    reference: str
    contact_id: uuid.UUID
    channel: Channel
    status: RequestStatus
    lane: str
    priority: int
    timings: Timings
    assigned_agent_id: uuid.UUID | None = None
    last_agent_id: uuid.UUID | None = None
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Message:
    id: uuid.UUID
    request_id: uuid.UUID
    channel: Channel
    direction: Direction
    body: str
    created_at: datetime
    subject: str | None = None
    agent_id: uuid.UUID | None = None
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HandlingEvent:
    """One handling action on a request, always with the agent who took it."""

    id: uuid.UUID
    request_id: uuid.UUID
    agent_id: uuid.UUID
    action: HandlingAction
    at: datetime
    target_agent_id: uuid.UUID | None = None
    note: str | None = None


class NoticeTextJson(TypedDict):
    fi: str
    sv: str | None
    en: str


class NoticeJson(TypedDict):
    """A notice as the consoles and the admin pages see it."""

    id: str
    text: NoticeTextJson
    channels: list[str]
    lanes: list[str]
    announcement_only: bool
    valid_from: str
    valid_until: str | None
    ended_at: str | None


@dataclass(frozen=True, slots=True)
class Notice:
    """A service notice: what the company tells everyone who gets in touch during a
    disruption, on some channels and lanes (none: all), from `valid_from` until
    `valid_until` (open-ended when None) unless ended early (see hub.notices)."""

    id: uuid.UUID
    text_fi: str
    text_en: str
    channels: frozenset[Channel]
    lanes: frozenset[str]
    announcement_only: bool
    valid_from: datetime
    valid_until: datetime | None = None
    ended_at: datetime | None = None
    text_sv: str | None = None  # optional: Swedish-speaking passengers get Finnish without it

    def active(self, at: datetime) -> bool:
        return (self.ended_at is None and self.valid_from <= at
                and (self.valid_until is None or at < self.valid_until))

    def covers(self, channel: Channel, lane: str | None) -> bool:
        """The notice answers this channel and lane (a lane not yet known counts as covered:
        the phone answers before the call is a request)."""
        return channel in self.channels and (not self.lanes or lane is None
                                             or lane in self.lanes)

    def text(self, language: str) -> str:
        if language == "en":
            return self.text_en
        if language == "sv" and self.text_sv:
            return self.text_sv
        return self.text_fi

    def to_json(self) -> NoticeJson:
        return {
            "id": str(self.id),
            "text": {"fi": self.text_fi, "sv": self.text_sv, "en": self.text_en},
            "channels": sorted(c.value for c in self.channels), "lanes": sorted(self.lanes),
            "announcement_only": self.announcement_only,
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
        }
