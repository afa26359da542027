"""The table of channel adapters. Adding a channel means one line here."""

from __future__ import annotations

from channels.base import ChannelAdapter
from channels.sms.twilio import TwilioSmsChannel
from channels.webform import WebFormChannel
from hub.errors import OperatorMustAct

ADAPTERS: dict[str, type[ChannelAdapter]] = {
    WebFormChannel.name: WebFormChannel,
    TwilioSmsChannel.name: TwilioSmsChannel,
}


def adapter_class(name: str) -> type[ChannelAdapter]:
    try:
        return ADAPTERS[name]
    except KeyError:
        raise OperatorMustAct(
            f"unknown channel {name!r} in configuration; known channels: {sorted(ADAPTERS)}"
        ) from None
