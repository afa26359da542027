"""Pure parsing of generic CTI push events (Zammad's convention, which many PBXs speak).

Events `newCall`, `answer` and `hangup`, each with `callId` (one per call session), `from`,
`to`, `direction` (`in` or `out`) and `user` / `user[]` (the agents' names: the called ones
for `in`, the caller for `out`); `answer` and `hangup` may name the `answeringNumber`,
`hangup` gives the `cause`. An inbound call that ends with nobody having answered is a
missed call whatever its cause: `cancel`, `noAnswer`, `busy`, ..., and `normalClearing` too
(the PBX took the call, into an IVR or a queue, and the caller left before an agent did).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from hub.call_events import ANONYMOUS, CallDirection, CallEvent, CallKind, normalise_number
from hub.errors import BadInput
from hub.text import is_storable

PROVIDER = "cti"
EVENTS = {"newCall": CallKind.NEW, "answer": CallKind.ANSWER, "hangup": CallKind.HANGUP}
MAX_CALL_ID_CHARS = 250  # Zammad's limit
MAX_FIELD_CHARS = 200
MAX_USERS = 50

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


def _one(fields: Fields, name: str) -> str:
    values = _many(fields, name)
    return values[0] if values else ""


def _many(fields: Fields, name: str) -> list[str]:
    values = [v.strip() for v in fields.get(name, ()) if v.strip()]
    for value in values:
        if len(value) > max(MAX_FIELD_CHARS, MAX_CALL_ID_CHARS) or not is_storable(value):
            raise BadInput(f"{name} is too long or not storable", {name: "invalid"})
    return values
