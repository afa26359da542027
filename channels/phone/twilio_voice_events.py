"""Pure parsing of Twilio's voice callbacks onto the call model.

Call status callbacks (`CallSid`, `CallStatus`, `From`, `To`, `Direction`, `Timestamp`,
`ParentCallSid`): an inbound call's own leg rings, goes `in-progress` when Twilio's
instructions take it (an IVR, a queue, a voicemail prompt: not yet a person) and ends as
`completed`, `busy`, `no-answer`, `canceled` or `failed`. A person answers on a leg those
instructions dial (a `<Dial>` to an agent's number or client: it has a `ParentCallSid`), so
that leg going `in-progress` is the answer, by the agent it was dialled to. An outbound
call (`outbound-api`, a dispatcher calling back) is answered when it goes `in-progress`.
An inbound call that ends with nobody having answered is missed, whatever its status.

Recording and transcription callbacks (`RecordingSid`, `RecordingUrl`, `RecordingStatus`,
`RecordingDuration`, `RecordingStartTime`, `TranscriptionText`, `TranscriptionStatus`) become
a `RecordingReport`, completed when Twilio says it started plus its duration (else at the
callback's `Timestamp`, else when the hub hears of it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from hub.call_events import CallDirection, CallEvent, CallKind, normalise_number
from hub.errors import BadInput
from hub.recordings import RecordingReport
from hub.text import is_storable

PROVIDER = "twilio"
RINGING = frozenset({"queued", "initiated", "ringing"})
ENDED = frozenset({"completed", "busy", "no-answer", "canceled", "failed"})
ANSWERED = frozenset({"in-progress", "answered"})
SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
SIP_USER = re.compile(r"^sips?:([^@;]+)")
MAX_TRANSCRIPTION_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class VoiceCallback:
    """What one Twilio callback says: a call event, a recording, both, or nothing to keep."""

    call: CallEvent | None = None
    recording: RecordingReport | None = None


def parse_voice(params: Mapping[str, str], *, default_region: str,
                now: datetime) -> VoiceCallback:
    """What one callback's form parameters say (see the module's docstring)."""
    call_sid = params.get("CallSid", "")
    if not SID.match(call_sid):
        raise BadInput("CallSid is missing or malformed", {"CallSid": "invalid"})
    for name, value in params.items():
        if not is_storable(name) or not is_storable(value):
            raise BadInput(f"{name} is not storable", {name: "invalid"})
    at = _timestamp(params.get("Timestamp")) or now
    if params.get("RecordingSid") or params.get("TranscriptionSid"):
        if params.get("RecordingStatus", "completed").lower() != "completed":
            return VoiceCallback()  # still recording, or nothing was recorded ("absent")
        recording = _recording(params, call_sid, at)
        # A <Record action> callback carries the call as well: it may be the first word of it.
        call = (_call(params, call_sid, CallKind.NEW, default_region, at)
                if params.get("From") and not params.get("ParentCallSid") else None)
        return VoiceCallback(call, recording)
    status = params.get("CallStatus", "").lower()
    parent = params.get("ParentCallSid", "")
    if parent:
        if status not in ANSWERED or not SID.match(parent):
            return VoiceCallback()  # a dialled leg ringing or ending: the parent call says it
        return VoiceCallback(_call(params, parent, CallKind.ANSWER, default_region, at,
                                   dialled_leg=True))
    outbound = params.get("Direction", "inbound").startswith("outbound")
    if status in RINGING or (status in ANSWERED and not outbound):
        kind = CallKind.NEW
    elif status in ANSWERED:
        kind = CallKind.ANSWER
    elif status in ENDED:
        kind = CallKind.HANGUP
    else:
        raise BadInput("CallStatus is not one Twilio sends", {"CallStatus": "invalid"})
    return VoiceCallback(_call(params, call_sid, kind, default_region, at))


def _call(params: Mapping[str, str], call_key: str, kind: CallKind, region: str,
          at: datetime, *, dialled_leg: bool = False) -> CallEvent:
    outbound = params.get("Direction", "inbound").startswith("outbound") and not dialled_leg
    caller, called = params.get("From", ""), params.get("To", "")
    # The agent: the end a dialled leg rang, or the dispatcher who called out.
    agent_end = called if dialled_leg else caller if outbound else ""
    number, name = _endpoint(agent_end)
    status = params.get("CallStatus", "").lower()
    return CallEvent(
        provider=PROVIDER, call_key=call_key, kind=kind,
        direction=CallDirection.OUT if outbound else CallDirection.IN,
        caller=_number(caller, region), called=_number(called, region), at=at,
        agent_numbers=(number,) if number else (), agent_names=(name,) if name else (),
        cause=status if kind is CallKind.HANGUP else None,
        missed=kind is CallKind.HANGUP and not outbound,
    )


def _recording(params: Mapping[str, str], call_sid: str, now: datetime) -> RecordingReport:
    sid = params.get("RecordingSid", "")
    if not SID.match(sid):
        raise BadInput("RecordingSid is missing or malformed", {"RecordingSid": "invalid"})
    transcription = None
    if params.get("TranscriptionStatus", "").lower() == "completed":
        transcription = params.get("TranscriptionText", "")[:MAX_TRANSCRIPTION_CHARS] or None
    duration = params.get("RecordingDuration", "")
    started = _timestamp(params.get("RecordingStartTime"))
    if started is not None and duration.isdigit():
        now = started + timedelta(seconds=int(duration))
    location = params.get("RecordingUrl") or None
    if location and not location.startswith(("https://", "http://")):
        raise BadInput("RecordingUrl is not a URL", {"RecordingUrl": "invalid"})
    keys = (call_sid, params["ParentCallSid"]) if params.get("ParentCallSid") else (call_sid,)
    return RecordingReport(
        provider=PROVIDER, call_keys=keys, provider_id=sid, location=location,
        duration_s=int(duration) if duration.isdigit() else None,
        completed_at=now, transcription=transcription,
    )


def _endpoint(text: str) -> tuple[str | None, str | None]:
    """(number or extension, user name) of a call end: `client:anna`, `sip:201@pbx`, or a
    phone number."""
    text = text.strip()
    if text.startswith("client:"):
        return None, text.removeprefix("client:") or None
    sip = SIP_USER.match(text)
    if sip:
        return sip.group(1), None
    return text or None, None


def _number(text: str, region: str) -> str:
    number, name = _endpoint(text)
    return normalise_number(number or "", region) if number or not name else text[:64]


def _timestamp(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        found = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return found if found.tzinfo is not None else None
