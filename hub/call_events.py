"""Phone call events as every phone adapter normalises them (plain data), and the call's
stable id and numbers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hub.errors import BadInput
from hub.phone import to_e164

ANONYMOUS = "anonymous"


class CallKind(StrEnum):
    NEW = "newCall"
    ANSWER = "answer"
    HANGUP = "hangup"


class CallDirection(StrEnum):
    IN = "in"
    OUT = "out"


class CallState(StrEnum):
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One call event, as a phone adapter normalised it.

    `caller` and `called` are the call's two ends as the PBX names them (E.164, 'anonymous',
    or an extension); the passenger is the caller of an inbound call and the callee of an
    outbound one. `agent_numbers` and `agent_names` say who answered (or dialled out):
    numbers, extensions and user names as the PBX gives them. `missed` on a hang-up: the
    provider says nobody answered (cancel, no answer, busy...). `request_reference`: the
    request a call the hub placed itself calls back (see dispatch.callbacks); the call is
    threaded there rather than into the passenger's newest open request.
    """

    provider: str
    call_key: str
    kind: CallKind
    direction: CallDirection
    caller: str
    called: str
    at: datetime
    agent_numbers: tuple[str, ...] = ()
    agent_names: tuple[str, ...] = ()
    cause: str | None = None
    missed: bool = False
    request_reference: str | None = None

    @property
    def passenger(self) -> str:
        return self.caller if self.direction is CallDirection.IN else self.called


def call_id_of(provider: str, call_key: str) -> uuid.UUID:
    """The call's id, the same for every event of the call (a retried first event too)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"taxiconnect:call:{provider}:{call_key}")


def normalise_number(text: str, default_region: str) -> str:
    """E.164 for a phone number, 'anonymous' for none; an extension stays as it is."""
    text = text.strip()
    if not text or text.lower() in {ANONYMOUS, "unknown", "restricted", "private", "<unknown>"}:
        return ANONYMOUS
    try:
        return to_e164(text, default_region)
    except BadInput:
        return text


def number_forms(text: str, region: str) -> set[str]:
    """Ways one number or extension may be written: as given, and in E.164 when it is one."""
    text = text.strip()
    if not text:
        return set()
    forms = {text.casefold()}
    normalised = normalise_number(text, region)
    if normalised.startswith("+"):
        forms.add(normalised)
    return forms
