"""The catalogue: every console event and every websocket frame, each declared once with its
payload's schema.

Console events are JSON objects written to the events stream (through the outbox, or straight
for ephemeral ones) and sent to consoles inside an `events` frame, each with the stream
entry's `id` put in front; presence events travel apart, inside `presence` frames, to the
consoles that asked for them. The chat widget speaks its own frames on `/chat/ws`.

Emitting code names a type by its constant (`EventType.REQUEST_QUEUED`); the payload's
shape is the struct tagged with it. `tests/test_events_catalogue.py` checks every event and
frame a running hub sends against these structs, and that every type named in the source is
catalogued here; `hub.asyncapi` documents them. A new event cannot be added without its
schema.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

import msgspec

from hub.model import HandlingAction
from hub.records import (
    AgentRef,
    Call,
    CallerProfile,
    Delivery,
    Handling,
    Notice,
    Presence,
    Recording,
    RequestSummary,
    Viewer,
)


class EventType(StrEnum):
    """Every console event's `type`."""

    REQUEST_QUEUED = "request.queued"  # a new request, routed into its lane
    REQUEST_MESSAGE = "request.message"  # a passenger's message threaded into an open one
    # The console's actions (dispatch.actions): one event per handling action.
    REQUEST_CLAIM = "request.claim"
    REQUEST_RELEASE = "request.release"
    REQUEST_TRANSFER = "request.transfer"
    REQUEST_NOTE = "request.note"
    REQUEST_RESOLVE = "request.resolve"
    REQUEST_REOPEN = "request.reopen"
    REQUEST_ORDER = "request.order"  # the order sent on (dispatch.order_api)
    # Offers to one dispatcher at a time (dispatch.offers).
    REQUEST_OFFER = "request.offer"
    REQUEST_OFFER_TIMEOUT = "request.offer_timeout"
    REQUEST_DECLINE = "request.decline"
    REQUEST_REPLY = "request.reply"
    REQUEST_AUTO_ANSWER = "request.auto_answer"  # the hub answered by itself
    REQUEST_GROUP_MESSAGE = "request.group_message"
    REQUEST_CALLBACK = "request.callback"  # a missed call: the passenger waits to be called
    REQUEST_CALLBACK_CALL = "request.callback_call"
    REQUEST_CALLBACK_OUTCOME = "request.callback_outcome"
    REQUEST_PASSENGER_RENAMED = "request.passenger_renamed"
    REQUEST_PASSENGER_MERGED = "request.passenger_merged"
    # The register's erasure (hub.subject_erase): the request now shows a nameless passenger.
    REQUEST_PASSENGER_ERASED = "request.passenger_erased"
    REQUEST_VIEWERS = "request.viewers"  # presence event: who has the request open
    CALL_RINGING = "call.ringing"
    CALL_ANSWERED = "call.answered"
    CALL_ENDED = "call.ended"
    CALL_RECORDING = "call.recording"
    MESSAGE_DELIVERY = "message.delivery"
    CHAT_TYPING = "chat.typing"  # ephemeral: straight onto the stream
    CHAT_CLOSED = "chat.closed"  # ephemeral: straight onto the stream
    NOTICE_PUBLISHED = "notice.published"
    NOTICE_ENDED = "notice.ended"
    PRESENCE_CHANGED = "presence.changed"  # presence event
    CHANNEL_ALERT = "channel.alert"  # a channel's alert raised or cleared (dispatch.channel_alerts)


# The handling actions whose console event is `request.<action>`.
_HANDLING_EVENTS = {
    HandlingAction.CLAIM, HandlingAction.RELEASE, HandlingAction.TRANSFER,
    HandlingAction.NOTE, HandlingAction.RESOLVE, HandlingAction.REOPEN,
    HandlingAction.OFFER, HandlingAction.OFFER_TIMEOUT, HandlingAction.DECLINE,
    HandlingAction.ORDER,
}


def handling_event(action: HandlingAction) -> EventType:
    """The console event of a handling action that has one of its own (`request.claim`)."""
    if action not in _HANDLING_EVENTS:
        raise ValueError(f"{action.value} has no console event of its own")
    return EventType(f"request.{action.value}")


class ConsoleFrameType(StrEnum):
    """The console websocket's frames (`/api/v1/console/ws`)."""

    HELLO = "hello"
    EVENTS = "events"
    RESYNC = "resync"
    PRESENCE = "presence"
    PING = "ping"  # from the console
    PONG = "pong"


class ChatFrameType(StrEnum):
    """The chat widget's frames (`/chat/ws`); hello, message, typing, prechat, seen, close
    and ping come from the widget (channels.chat.frames parses them)."""

    HELLO = "hello"
    WELCOME = "welcome"
    MESSAGE = "message"
    ACK = "ack"
    NACK = "nack"
    TYPING = "typing"
    AVAILABILITY = "availability"
    PRECHAT = "prechat"
    SEEN = "seen"
    CLOSE = "close"
    CLOSED = "closed"
    QUEUE = "queue"
    PING = "ping"
    PONG = "pong"


# ---- console events ---------------------------------------------------------------------


class _Event(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="type"):
    pass


class _StreamEvent(_Event, kw_only=True):
    # The stream entry's id, put in front as a console receives it; absent when written.
    id: str | msgspec.UnsetType = msgspec.UNSET


class _RequestEvent(_StreamEvent, kw_only=True):
    request: RequestSummary


class _Handled(_RequestEvent, kw_only=True):
    handling: Handling


class RequestQueued(_RequestEvent, tag=EventType.REQUEST_QUEUED.value, kw_only=True):
    message_id: str | None


class RequestMessage(_RequestEvent, tag=EventType.REQUEST_MESSAGE.value, kw_only=True):
    message_id: str | None


class RequestClaim(_Handled, tag=EventType.REQUEST_CLAIM.value, kw_only=True):
    pass


class RequestRelease(_Handled, tag=EventType.REQUEST_RELEASE.value, kw_only=True):
    pass


class RequestTransfer(_Handled, tag=EventType.REQUEST_TRANSFER.value, kw_only=True):
    pass


class RequestNote(_Handled, tag=EventType.REQUEST_NOTE.value, kw_only=True):
    pass


class RequestResolve(_Handled, tag=EventType.REQUEST_RESOLVE.value, kw_only=True):
    pass


class RequestOrder(_Handled, tag=EventType.REQUEST_ORDER.value, kw_only=True):
    pass


class RequestReopen(_Handled, tag=EventType.REQUEST_REOPEN.value, kw_only=True):
    pass


class RequestOffer(_Handled, tag=EventType.REQUEST_OFFER.value, kw_only=True):
    pass


class RequestOfferTimeout(_Handled, tag=EventType.REQUEST_OFFER_TIMEOUT.value, kw_only=True):
    pass


class RequestDecline(_Handled, tag=EventType.REQUEST_DECLINE.value, kw_only=True):
    pass


class RequestReply(_Handled, tag=EventType.REQUEST_REPLY.value, kw_only=True):
    message_id: str


class RequestAutoAnswer(_RequestEvent, tag=EventType.REQUEST_AUTO_ANSWER.value, kw_only=True):
    message_id: str
    kind: Literal["notice", "out_of_hours", "acknowledgement"]


class GroupRef(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: str
    name: str
    message_id: str


class RequestGroupMessage(_Handled, tag=EventType.REQUEST_GROUP_MESSAGE.value, kw_only=True):
    group: GroupRef


class RequestCallback(_RequestEvent, tag=EventType.REQUEST_CALLBACK.value, kw_only=True):
    call: Call


class RequestCallbackCall(_Handled, tag=EventType.REQUEST_CALLBACK_CALL.value, kw_only=True):
    pass


class RequestCallbackOutcome(_Handled, tag=EventType.REQUEST_CALLBACK_OUTCOME.value, kw_only=True):
    outcome: str


class PassengerRenamed(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: str
    by: AgentRef


class PassengerMerged(PassengerRenamed, kw_only=True):
    merged: str  # the passenger merged into `id`


class RequestPassengerRenamed(_RequestEvent, tag=EventType.REQUEST_PASSENGER_RENAMED.value,
                              kw_only=True):
    passenger: PassengerRenamed


class RequestPassengerMerged(_RequestEvent, tag=EventType.REQUEST_PASSENGER_MERGED.value,
                             kw_only=True):
    passenger: PassengerMerged


class RequestPassengerErased(_RequestEvent, tag=EventType.REQUEST_PASSENGER_ERASED.value,
                             kw_only=True):
    pass


class CallRinging(_RequestEvent, tag=EventType.CALL_RINGING.value, kw_only=True):
    call: Call
    caller: CallerProfile


class CallAnswered(_RequestEvent, tag=EventType.CALL_ANSWERED.value, kw_only=True):
    call: Call
    caller: CallerProfile
    handling: Handling | msgspec.UnsetType = msgspec.UNSET  # absent: no known agent answered


class CallEnded(_RequestEvent, tag=EventType.CALL_ENDED.value, kw_only=True):
    call: Call
    handling: Handling | msgspec.UnsetType = msgspec.UNSET  # present: its agent resolved it


class CallRecording(_RequestEvent, tag=EventType.CALL_RECORDING.value, kw_only=True):
    recording: Recording


class MessageDelivery(_RequestEvent, tag=EventType.MESSAGE_DELIVERY.value, kw_only=True):
    message_id: str
    delivery: Delivery


class ChatTyping(_RequestEvent, tag=EventType.CHAT_TYPING.value, kw_only=True):
    typing: bool


class ChatClosed(_RequestEvent, tag=EventType.CHAT_CLOSED.value, kw_only=True):
    pass


class NoticePublished(_StreamEvent, tag=EventType.NOTICE_PUBLISHED.value, kw_only=True):
    notice: Notice
    by: AgentRef


class NoticeEnded(_StreamEvent, tag=EventType.NOTICE_ENDED.value, kw_only=True):
    notice: Notice
    by: AgentRef


class ChannelAlertInfo(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    adapter: str  # the channel adapter, e.g. "twilio_sms"
    channel: str  # its channel: phone, sms, email, chat, webform
    kind: Literal["down", "failing", "quiet"]
    since: datetime


class ChannelAlert(_StreamEvent, tag=EventType.CHANNEL_ALERT.value, kw_only=True):
    state: Literal["raised", "cleared"]
    alert: ChannelAlertInfo
    at: datetime


class PresenceChanged(Presence, _Event, tag=EventType.PRESENCE_CHANGED.value, kw_only=True):
    pass


class RequestViewers(_Event, tag=EventType.REQUEST_VIEWERS.value, kw_only=True):
    request_id: str
    viewers: list[Viewer]


StreamEvent = (
    RequestQueued | RequestMessage | RequestClaim | RequestRelease | RequestTransfer
    | RequestNote | RequestResolve | RequestReopen | RequestOrder | RequestOffer
    | RequestOfferTimeout | RequestDecline | RequestReply | RequestAutoAnswer
    | RequestGroupMessage | RequestCallback | RequestCallbackCall | RequestCallbackOutcome
    | RequestPassengerRenamed
    | RequestPassengerMerged | RequestPassengerErased | CallRinging | CallAnswered | CallEnded
    | CallRecording
    | MessageDelivery | ChatTyping | ChatClosed | NoticePublished | NoticeEnded | ChannelAlert
)
PresenceEvent = PresenceChanged | RequestViewers


# ---- console websocket frames -----------------------------------------------------------


class _Frame(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="type"):
    pass


class ConsoleHello(_Frame, tag=ConsoleFrameType.HELLO.value, kw_only=True):
    """First frame: events after `last_event_id` follow, with no gap and no repeat."""

    last_event_id: str


class ConsoleEvents(_Frame, tag=ConsoleFrameType.EVENTS.value, kw_only=True):
    events: list[StreamEvent]


class ConsoleResync(_Frame, tag=ConsoleFrameType.RESYNC.value, kw_only=True):
    """Too far behind to replay: reload the list, then resume after `last_event_id`."""

    last_event_id: str


class ConsolePresence(_Frame, tag=ConsoleFrameType.PRESENCE.value, kw_only=True):
    """Only with the subprotocol taxiconnect.presence."""

    event: PresenceEvent


class ConsolePong(_Frame, tag=ConsoleFrameType.PONG.value, kw_only=True):
    pass


class ConsolePing(_Frame, tag=ConsoleFrameType.PING.value, kw_only=True):
    pass


ConsoleServerFrame = ConsoleHello | ConsoleEvents | ConsoleResync | ConsolePresence | ConsolePong
ConsoleClientFrame = ConsolePing


# ---- chat widget frames -----------------------------------------------------------------


class ChatLine(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One line of the conversation as the widget shows it."""

    id: str
    at: datetime
    from_: Literal["passenger", "dispatcher"] = msgspec.field(name="from")
    text: str
    agent: str | None
    client_id: str | None


Availability = Literal["ok", "no_dispatcher", "closed_hours"]


class ChatWelcome(_Frame, tag=ChatFrameType.WELCOME.value, kw_only=True):
    token: str
    available: bool
    reason: Availability
    max_chars: int
    messages: list[ChatLine]  # the lines after the hello's `last_seen`, in order


class ChatMessageLine(ChatLine, _Frame, tag=ChatFrameType.MESSAGE.value, kw_only=True):
    pass


class ChatAck(_Frame, tag=ChatFrameType.ACK.value, kw_only=True):
    """The widget's message is committed (sent only then)."""

    id: str  # the widget's own id of the message
    message_id: str
    at: datetime


class ChatNack(_Frame, tag=ChatFrameType.NACK.value, kw_only=True):
    """Not stored: resend if `retry`. The widget says `code` (hub.error_codes) with `params`
    in the passenger's language; `reason` is the English for API clients."""

    id: str
    code: str
    params: dict[str, str | int | float]
    reason: str
    retry: bool
    retry_after: float | msgspec.UnsetType | None = msgspec.UNSET
    announced: bool | msgspec.UnsetType = msgspec.UNSET  # reason: a service notice's text


class ChatTypingFrame(_Frame, tag=ChatFrameType.TYPING.value, kw_only=True):
    on: bool
    name: str


class ChatAvailability(_Frame, tag=ChatFrameType.AVAILABILITY.value, kw_only=True):
    available: bool
    reason: Availability


class ChatPrechatResult(_Frame, tag=ChatFrameType.PRECHAT.value, kw_only=True):
    ok: bool
    fields: dict[str, str]  # field name -> why it was not accepted
    code: str | msgspec.UnsetType = msgspec.UNSET  # when not ok: check_fields
    params: dict[str, str | int | float] | msgspec.UnsetType = msgspec.UNSET


class ChatClosedFrame(_Frame, tag=ChatFrameType.CLOSED.value, kw_only=True):
    # null: closed in another tab of the visitor
    transcript: Literal["queued", "unavailable", "invalid", "empty", "none"] | None


class ChatQueue(_Frame, tag=ChatFrameType.QUEUE.value, kw_only=True):
    position: int | None
    wait_s: int | msgspec.UnsetType | None = msgspec.UNSET


class ChatPong(_Frame, tag=ChatFrameType.PONG.value, kw_only=True):
    pass


class ChatHello(_Frame, tag=ChatFrameType.HELLO.value, kw_only=True):
    token: str | None = None
    last_seen: str | None = None
    lang: Literal["fi", "sv", "en"] | None = None


class ChatSend(_Frame, tag=ChatFrameType.MESSAGE.value, kw_only=True):
    id: str  # 8-64 letters, digits, - or _; a resend carries the same
    text: str


class ChatTypingSignal(_Frame, tag=ChatFrameType.TYPING.value, kw_only=True):
    on: bool


class ChatPrechat(_Frame, tag=ChatFrameType.PRECHAT.value, kw_only=True):
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    pickup_address: str | None = None
    pickup_time: str | None = None


class ChatSeen(_Frame, tag=ChatFrameType.SEEN.value, kw_only=True):
    message_id: str


class ChatClose(_Frame, tag=ChatFrameType.CLOSE.value, kw_only=True):
    email: str | None = None


class ChatPing(_Frame, tag=ChatFrameType.PING.value, kw_only=True):
    pass


ChatServerFrame = (
    ChatWelcome | ChatMessageLine | ChatAck | ChatNack | ChatTypingFrame | ChatAvailability
    | ChatPrechatResult | ChatClosedFrame | ChatQueue | ChatPong
)
ChatClientFrame = (
    ChatHello | ChatSend | ChatTypingSignal | ChatPrechat | ChatSeen | ChatClose | ChatPing
)


# ---- lookups ----------------------------------------------------------------------------


def tag_of(struct: type[msgspec.Struct]) -> str:
    tag = struct.__struct_config__.tag
    assert isinstance(tag, str), struct
    return tag


def _members(union: Any) -> dict[str, type[msgspec.Struct]]:
    return {tag_of(member): member for member in union.__args__}


EVENTS: dict[str, type[msgspec.Struct]] = {
    **_members(StreamEvent), **_members(PresenceEvent)}
CONSOLE_SERVER_FRAMES = _members(ConsoleServerFrame)
CHAT_SERVER_FRAMES = _members(ChatServerFrame)
CHAT_CLIENT_FRAMES = _members(ChatClientFrame)

_decoders: dict[str, msgspec.json.Decoder[Any]] = {
    "console": msgspec.json.Decoder(ConsoleServerFrame),
    "chat": msgspec.json.Decoder(ChatServerFrame),
    "event": msgspec.json.Decoder(StreamEvent | PresenceEvent),
}


def check(kind: Literal["console", "chat", "event"], text: str | bytes) -> msgspec.Struct:
    """Decode a frame the hub sent (or one event) against the catalogue; raises
    `msgspec.ValidationError` with the path of what does not fit."""
    found: msgspec.Struct = _decoders[kind].decode(text)
    return found
