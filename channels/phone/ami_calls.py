"""Asterisk's call events turned into the call model, one call per `Linkedid` (the
Uniqueid of the call's oldest channel: the caller's).

The caller's channel appears (`Newchannel` with Uniqueid = Linkedid): a caller with a phone
number is a passenger calling in; an extension dialling a phone number is a dispatcher
calling out; an extension dialling an extension is an internal call, not followed. A queue
member taking the call (`AgentConnect`) or a dialled party answering (`DialEnd` with
`DialStatus: ANSWER`) is the answer. The caller hanging up (`Hangup` of the caller's
channel, with its Q.850 `Cause`) ends the call; one who gives up waiting in a queue
(`QueueCallerAbandon`) ends it unanswered at once. A call the hub originated for a callback
(channels.phone.ami_originate) is known by its Linkedid: the dispatcher's extension calling
the passenger out, answered when the passenger answers (the `DialEnd` of the call's own
channel, not of the leg that rang the dispatcher), and threaded into the request called back.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from channels.phone.ami_originate import placed
from channels.phone.ami_protocol import Packet
from hub.call_events import ANONYMOUS, CallDirection, CallEvent, CallKind, normalise_number

PROVIDER = "ami"
MAX_TRACKED = 10_000  # calls remembered at once; a lost Hangup must not grow this forever
# Q.850 causes of a call nobody answered, named as generic CTI names them.
UNANSWERED_CAUSES = {"1": "notFound", "3": "notFound", "17": "busy", "18": "noAnswer",
                     "19": "noAnswer", "21": "noAnswer", "34": "congestion",
                     "38": "congestion", "41": "congestion", "42": "congestion"}
NORMAL_CLEARING = "16"
# `PJSIP/agent-201-0000000a`, `SIP/201`, `Local/201@agents-00000001;1`: the endpoint part.
CHANNEL = re.compile(r"^[A-Za-z0-9]+/(?P<name>[^@;/]+?)(?:-[0-9a-f]{8})?(?:[@;].*)?$")


@dataclass(frozen=True, slots=True)
class _Call:
    direction: CallDirection
    caller: str
    called: str
    followed: bool = True  # False: an internal call
    answered: bool = False
    reference: str | None = None  # the hub placed this call to call back that request


def extension_of(channel: str) -> str:
    """The endpoint (extension) of a channel or queue interface name."""
    found = CHANNEL.match(channel.strip())
    return found.group("name") if found else channel.strip()


class AmiCalls:
    """Follows the calls of one Asterisk; `translate` is called with every event in order."""

    def __init__(self, default_region: str) -> None:
        self._region = default_region
        self._calls: OrderedDict[str, _Call] = OrderedDict()

    def __repr__(self) -> str:
        return f"<AmiCalls following={len(self._calls)}>"

    def translate(self, packet: Packet, now: datetime) -> CallEvent | None:
        """The call event an AMI event means, if any."""
        name, linked = packet.get("Event", ""), packet.get("Linkedid", "")
        if not linked:
            return None
        at = event_time(packet) or now
        caller_channel = packet.get("Uniqueid") == linked
        call = self._calls.get(linked)
        if call is None and (name in ("QueueCallerJoin", "AgentConnect", "QueueCallerAbandon")
                             or (caller_channel and name in ("Newchannel", "DialEnd", "Hangup"))):
            call = self._follow(linked, packet)
        if call is None or not call.followed:
            if name == "Hangup" and caller_channel:
                self._calls.pop(linked, None)
            return None
        if name in ("Newchannel", "QueueCallerJoin"):
            return self._event(linked, call, CallKind.NEW, at)
        dial_answered = (name == "DialEnd" and packet.get("DialStatus") == "ANSWER"
                         and (caller_channel or call.reference is None))
        if name == "AgentConnect" or dial_answered:
            self._calls[linked] = replace(call, answered=True)
            if call.direction is CallDirection.OUT:
                numbers: tuple[str, ...] = (call.caller,)  # the dispatcher who dialled
                names: tuple[str, ...] = ()
            else:
                numbers = tuple(n for n in (extension_of(packet.get("Interface", "")),
                                            extension_of(packet.get("DestChannel", "")),
                                            packet.get("DestCallerIDNum", "")) if n)
                names = tuple(n for n in (packet.get("MemberName", ""),
                                          packet.get("DestCallerIDName", "")) if n)
            return self._event(linked, call, CallKind.ANSWER, at, numbers=numbers, names=names)
        if name == "QueueCallerAbandon":
            return self._event(linked, call, CallKind.HANGUP, at, cause="abandon", missed=True)
        if name == "Hangup" and caller_channel:
            self._calls.pop(linked, None)
            code = packet.get("Cause", "")
            cause = ("normalClearing" if call.answered
                     else UNANSWERED_CAUSES.get(code, "cancel" if code == NORMAL_CLEARING
                                                else f"q850-{code or 'unknown'}"))
            return self._event(linked, call, CallKind.HANGUP, at, cause=cause, missed=True)
        return None

    def _follow(self, linked: str, packet: Packet) -> _Call:
        """Decide who the passenger is, from the caller's channel as this event shows it."""
        callback = placed(linked)
        if callback is not None:  # whatever caller id the PBX shows on it
            call = _Call(CallDirection.OUT, extension_of(packet.get("Channel", "")),
                         callback.number, reference=callback.reference)
            return self._remember(linked, call)
        number = normalise_number(packet.get("CallerIDNum", ""), self._region)
        dialled = normalise_number(packet.get("Exten", ""), self._region)
        # A Local channel without a caller id is the PBX dialling for someone (Originate).
        local = packet.get("Channel", "").startswith("Local/")
        if number.startswith("+") or (number == ANONYMOUS and not local):
            call = _Call(CallDirection.IN, number, dialled)
        elif dialled.startswith("+"):
            call = _Call(CallDirection.OUT, number, dialled)
        else:
            call = _Call(CallDirection.IN, number, dialled, followed=False)
        return self._remember(linked, call)

    def _remember(self, linked: str, call: _Call) -> _Call:
        self._calls[linked] = call
        while len(self._calls) > MAX_TRACKED:
            self._calls.popitem(last=False)
        return call

    @staticmethod
    def _event(linked: str, call: _Call, kind: CallKind, at: datetime, *,
               numbers: tuple[str, ...] = (), names: tuple[str, ...] = (),
               cause: str | None = None, missed: bool = False) -> CallEvent:
        return CallEvent(provider=PROVIDER, call_key=linked, kind=kind,
                         direction=call.direction, caller=call.caller, called=call.called,
                         at=at, agent_numbers=numbers, agent_names=names, cause=cause,
                         missed=missed, request_reference=call.reference)


def event_time(packet: Packet) -> datetime | None:
    """`Timestamp: 1700000000.123456`, sent when manager.conf has timestampevents=yes."""
    try:
        return datetime.fromtimestamp(float(packet["Timestamp"]), UTC)
    except (KeyError, ValueError, OverflowError, OSError):
        return None
