"""The hub's own calls through Asterisk: the Originate action of "call now", and how its
events are recognised again, without any I/O.

Originate (Async) rings the dispatcher's own phone (`phone.ami.originate_channel` with their
phone login); once they answer, Asterisk runs `originate_context` with the passenger's
number as the extension, as if they had dialled it there. The channel's Uniqueid is the
hub's to choose (`ChannelId`, Asterisk 12+) and, being the oldest channel of the call, it
is also the call's Linkedid: it names the request and the passenger's number, so every hub
process following the PBX knows the call for a callback of that request from its first
event, whatever caller id the PBX shows on it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import phonenumbers

from hub.errors import BadInput
from hub.settings import AmiSettings

PREFIX = "taxiconnect"
CHANNEL_ID = re.compile(rf"^{PREFIX}-(?P<reference>[0-9]{{2,20}})-(?P<digits>[0-9]{{4,15}})"
                        r"-[0-9a-f]{8}$")
EXTENSION = re.compile(r"^[A-Za-z0-9_.+-]{1,32}$")  # a phone login that names one endpoint
NUMBER_FORMATS = ("e164", "national")
PRIORITY = "1"


@dataclass(frozen=True, slots=True)
class Placed:
    """What an originated call's id says: the request called back and the number dialled."""

    reference: str
    number: str  # E.164


def channel_id(reference: str, number: str) -> str:
    """A fresh Uniqueid for the call of `reference` to `number` (E.164)."""
    return f"{PREFIX}-{reference}-{number.removeprefix('+')}-{secrets.token_hex(4)}"


def placed(uniqueid: str) -> Placed | None:
    """The callback a Linkedid is the hub's call for, if it is one."""
    found = CHANNEL_ID.match(uniqueid)
    if found is None:
        return None
    return Placed(found.group("reference"), "+" + found.group("digits"))


def check_settings(ami: AmiSettings) -> None:
    """Start-up checks of the Originate settings; ValueError names what is wrong."""
    if "{extension}" not in ami.originate_channel:
        raise ValueError("phone.ami.originate_channel must contain {extension}")
    if not ami.originate_context.strip():
        raise ValueError("phone.ami.originate_context is empty")
    if ami.originate_number_format not in NUMBER_FORMATS:
        raise ValueError(f"phone.ami.originate_number_format must be one of {NUMBER_FORMATS}")
    if ami.originate_timeout_s < 1:
        raise ValueError("phone.ami.originate_timeout_s must be at least 1")


def dialled(number: str, number_format: str, region: str) -> str:
    """The passenger's E.164 number as the dialplan context dials it."""
    if number_format == "e164":
        return number
    parsed = phonenumbers.parse(number, None)
    return re.sub(r"[^0-9+]", "",
                  phonenumbers.format_out_of_country_calling_number(parsed, region))


def originate_fields(ami: AmiSettings, *, action_id: str, extension: str, number: str,
                     reference: str, region: str) -> dict[str, str]:
    """The Originate action's headers for calling `number` back from `extension`."""
    if not EXTENSION.match(extension):
        raise BadInput("the dispatcher's phone login is not an extension the PBX can ring",
                       {"phone_login": "invalid"})
    fields = {
        "ActionID": action_id,
        "Channel": ami.originate_channel.replace("{extension}", extension),
        "Context": ami.originate_context,
        "Exten": dialled(number, ami.originate_number_format, region),
        "Priority": PRIORITY,
        "Timeout": str(ami.originate_timeout_s * 1000),  # milliseconds
        "Async": "true",  # answered at once; the call's progress comes as events
        "ChannelId": channel_id(reference, number),
    }
    if ami.originate_caller_id:
        fields["CallerID"] = ami.originate_caller_id
    return fields
