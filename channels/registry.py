"""The table of channel adapters. Adding a channel means one line here."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import ClientSession, web

from channels.base import CallOriginator, ChannelAdapter
from channels.chat import ChatChannel
from channels.email.channel import EmailChannel
from channels.phone.ami import AsteriskAmiChannel
from channels.phone.cti import CtiPhoneChannel
from channels.phone.recordings_api import PATH as RECORDING_AUDIO
from channels.phone.recordings_api import ProviderAudioFetch, RecordingPlayer
from channels.phone.twilio_voice import TwilioVoiceChannel
from channels.sms.generic import GenericSmsChannel
from channels.sms.twilio import TwilioSmsChannel
from channels.sms.vonage import VonageSmsChannel
from channels.webform import WebFormChannel
from hub.errors import OperatorMustAct
from hub.recording_audio import ProviderAudio
from hub.settings import Settings

ADAPTERS: dict[str, type[ChannelAdapter]] = {
    WebFormChannel.name: WebFormChannel,
    TwilioSmsChannel.name: TwilioSmsChannel,
    VonageSmsChannel.name: VonageSmsChannel,
    GenericSmsChannel.name: GenericSmsChannel,
    EmailChannel.name: EmailChannel,
    CtiPhoneChannel.name: CtiPhoneChannel,
    TwilioVoiceChannel.name: TwilioVoiceChannel,
    AsteriskAmiChannel.name: AsteriskAmiChannel,
    ChatChannel.name: ChatChannel,
}


def adapter_class(name: str) -> type[ChannelAdapter]:
    try:
        return ADAPTERS[name]
    except KeyError:
        raise OperatorMustAct(
            f"unknown channel {name!r} in configuration; known channels: {sorted(ADAPTERS)}"
        ) from None


def call_originator(enabled: Iterable[ChannelAdapter]) -> CallOriginator | None:
    """The enabled adapter that can call a passenger back through the PBX, if any."""
    for adapter in enabled:
        if isinstance(adapter, CallOriginator):
            return adapter
    return None


def recording_routes(enabled: Iterable[ChannelAdapter]) -> list[web.RouteDef]:
    """The route that plays recordings, served by the first enabled phone adapter that can:
    every phone adapter keeps recordings, one route has one owner."""
    for adapter in enabled:
        if isinstance(adapter, RecordingPlayer):
            return [web.get(RECORDING_AUDIO, adapter.audio)]
    return []


def provider_audio(http: ClientSession, settings: Settings) -> ProviderAudio:
    """How a passenger's export fetches a recording a provider keeps: as the player does,
    with the operator's credentials, whichever phone adapter took the recording (or none
    enabled now: the passenger's audio is still theirs)."""
    return ProviderAudioFetch(http, settings.sms.twilio,
                              max_bytes=settings.phone.recording_max_bytes)
