"""Pure parsing of generic CTI push events (Zammad's convention, which many PBXs speak).

Events `newCall`, `answer` and `hangup`, each with `callId` (one per call session), `from`,
`to`, `direction` (`in` or `out`) and `user` / `user[]` (the agents' names: the called ones
for `in`, the caller for `out`); `answer` and `hangup` may name the `answeringNumber`,
`hangup` gives the `cause`. An inbound call that ends with nobody having answered is a
missed call whatever its cause: `cancel`, `noAnswer`, `busy`, ..., and `normalClearing` too
(the PBX took the call, into an IVR or a queue, and the caller left before an agent did).

Events `recording` and `voicemail` (TaxiConnect's own, in the same shape) report the audio of
a call the hub knows by `callId`: its `url`, and optionally `recordingId` (the PBX's id of
it; the URL stands for it when absent), `duration` (seconds), `completedAt` (when the PBX
finished it: ISO 8601 with an offset, or Unix seconds; the hub's clock when absent) and
`transcription`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from channels.phone.recording_files import provider_key
from hub.call_events import ANONYMOUS, CallDirection, CallEvent, CallKind, normalise_number
from hub.errors import BadInput
from hub.text import is_storable

PROVIDER = "cti"
EVENTS = {"newCall": CallKind.NEW, "answer": CallKind.ANSWER, "hangup": CallKind.HANGUP}
MAX_CALL_ID_CHARS = 250  # Zammad's limit
MAX_FIELD_CHARS = 200
MAX_USERS = 50
RECORDING_EVENTS = {"recording": "recording", "voicemail": "voicemail"}
MAX_URL_CHARS = 2000
MAX_TRANSCRIPTION_CHARS = 20_000
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(days=1)  # a PBX clock this far ahead is wrong, not early

Fields = Mapping[str, Sequence[str]]


def parse_cti(fields: Fields, *, default_region: str, now: datetime) -> CallEvent:
    """One CTI event; `fields` holds each field's values (`user[]` filed under `user`)."""
    kind = EVENTS.get(_one(fields, "event"))
    if kind is None:
        raise BadInput("Invalid event!", {"event": "invalid"})
    try:
        direction = CallDirection(_one(fields, "direction"))
    except ValueError:
        raise BadInput("Invalid direction!", {"direction": "invalid"}) from None
    call_id = _one(fields, "callId")
    if not call_id or len(call_id) > MAX_CALL_ID_CHARS:
        raise BadInput(f"callId must be 1 to {MAX_CALL_ID_CHARS} characters",
                       {"callId": "required" if not call_id else "invalid"})
    caller = normalise_number(_one(fields, "from"), default_region)
    called = normalise_number(_one(fields, "to"), default_region)
    passenger_field = "from" if direction is CallDirection.IN else "to"
    passenger = caller if direction is CallDirection.IN else called
    if passenger != ANONYMOUS and not passenger.startswith("+"):
        raise BadInput(f"{passenger_field} is not a phone number", {passenger_field: "invalid"})
    numbers = [_one(fields, "answeringNumber")]
    if direction is CallDirection.OUT:
        numbers.append(caller)  # the agent's own number or extension dialled out
    cause = _one(fields, "cause") if kind is CallKind.HANGUP else ""
    return CallEvent(
        provider=PROVIDER, call_key=call_id, kind=kind, direction=direction,
        caller=caller, called=called, at=now,
        agent_numbers=tuple(n for n in numbers if n and n != ANONYMOUS),
        agent_names=tuple(_many(fields, "user")[:MAX_USERS]),
        cause=cause or None,
        missed=kind is CallKind.HANGUP and direction is CallDirection.IN,
    )


@dataclass(frozen=True, slots=True)
class CtiRecording:
    """A `recording` or `voicemail` event: the audio of call `call_id` at `url`."""

    call_id: str
    recording_id: str
    url: str
    kind: str
    duration_s: int | None
    completed_at: datetime
    transcription: str | None


def is_recording(fields: Fields) -> bool:
    return _one(fields, "event") in RECORDING_EVENTS


def parse_cti_recording(fields: Fields, *, now: datetime) -> CtiRecording:
    """One `recording` or `voicemail` event (see the module's docstring)."""
    kind = RECORDING_EVENTS.get(_one(fields, "event"))
    if kind is None:
        raise BadInput("Invalid event!", {"event": "invalid"})
    call_id = _one(fields, "callId")
    if not call_id or len(call_id) > MAX_CALL_ID_CHARS:
        raise BadInput(f"callId must be 1 to {MAX_CALL_ID_CHARS} characters",
                       {"callId": "required" if not call_id else "invalid"})
    url = _text(fields, "url", MAX_URL_CHARS)
    if not url.startswith(("https://", "http://")):
        raise BadInput("url must be the recording's http(s) URL",
                       {"url": "required" if not url else "invalid"})
    duration = _one(fields, "duration")
    if duration and not duration.isdigit():
        raise BadInput("duration must be whole seconds", {"duration": "invalid"})
    return CtiRecording(
        call_id=call_id, recording_id=provider_key(_one(fields, "recordingId") or url),
        url=url, kind=kind, duration_s=int(duration) if duration else None,
        completed_at=_moment(_one(fields, "completedAt"), now),
        transcription=_text(fields, "transcription", MAX_TRANSCRIPTION_CHARS) or None,
    )


def _moment(text: str, now: datetime) -> datetime:
    if not text:
        return now
    try:
        at = (datetime.fromtimestamp(float(text), UTC) if _is_number(text)
              else datetime.fromisoformat(text))
    except (ValueError, OverflowError, OSError):
        raise BadInput("completedAt must be ISO 8601 with an offset, or Unix seconds",
                       {"completedAt": "invalid"}) from None
    if at.tzinfo is None or not EARLIEST <= at <= now + CLOCK_SKEW:
        raise BadInput("completedAt must carry an offset and lie in the past",
                       {"completedAt": "invalid"})
    return at.astimezone(UTC)


def _is_number(text: str) -> bool:
    return text.replace(".", "", 1).isdigit()


def _text(fields: Fields, name: str, limit: int) -> str:
    values = [v.strip() for v in fields.get(name, ()) if v.strip()]
    if not values:
        return ""
    if len(values[0]) > limit or not is_storable(values[0]):
        raise BadInput(f"{name} is too long or not storable", {name: "invalid"})
    return values[0]


def _one(fields: Fields, name: str) -> str:
    values = _many(fields, name)
    return values[0] if values else ""


def _many(fields: Fields, name: str) -> list[str]:
    values = [v.strip() for v in fields.get(name, ()) if v.strip()]
    for value in values:
        if len(value) > max(MAX_FIELD_CHARS, MAX_CALL_ID_CHARS) or not is_storable(value):
            raise BadInput(f"{name} is too long or not storable", {name: "invalid"})
    return values
