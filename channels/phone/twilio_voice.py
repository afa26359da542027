"""Twilio voice: call status, recording, voicemail and transcription callbacks at
`POST /webhooks/phone/twilio` (signed with X-Twilio-Signature), and the audio of the
recordings they report at `GET /api/v1/recordings/{id}/audio`.

Configured as the number's Voice URL too, a new call's answer speaks the active service
notice (channels/phone/announce.py) and then redirects to the company's own call flow
(`phone.twilio_flow_url`); every other callback is answered with empty TwiML.

It can serve the recordings' audio for every phone adapter (channels.registry.recording_routes).
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from aiohttp import web

from channels.base import HubServices
from channels.phone import recordings_api
from channels.phone.announce import Announcement, announce_only, greeting, twiml
from channels.phone.twilio_voice_events import parse_voice
from channels.sms.twilio import _called_url
from channels.sms.twilio_signature import is_valid
from channels.sms.webhooks import FORM_TYPE, forbidden, form_pairs, unsupported_media
from hub.call_events import CallKind
from hub.calls import CallStore
from hub.clock import utcnow
from hub.errors import NotFound, OperatorMustAct, RetryLater
from hub.model import Channel
from hub.recordings import RecordingReport, Recordings
from hub.request_body import receive_body

PATH = "/webhooks/phone/twilio"
# A recording callback can overtake the commit of the status callback that opened its call.
UNKNOWN_CALL_WAIT_S = (0.05, 0.2, 0.5, 1.0)


class TwilioVoiceChannel:
    name: ClassVar[str] = "twilio_voice"
    channel: ClassVar[Channel] = Channel.PHONE
    max_body_chars: ClassVar[int] = 200  # a call's contact is a one-line note
    can_reply: ClassVar[bool] = False

    def __init__(self) -> None:
        self._services: HubServices | None = None
        self._store: CallStore | None = None
        self._recordings: Recordings | None = None
        self.received = 0
        self.announced = 0

    def __repr__(self) -> str:
        return (f"<TwilioVoiceChannel started={self._services is not None} "
                f"received={self.received} announced={self.announced}>")

    def routes(self) -> list[web.RouteDef]:
        return [web.post(PATH, self.callback)]

    async def start(self, services: HubServices) -> None:
        if not services.settings.sms.twilio.auth_token:
            raise OperatorMustAct("twilio_voice is enabled but sms.twilio.auth_token is not set")
        self._services = services
        self._store = services.calls
        self._recordings = services.recordings

    async def stop(self) -> None:
        self._services = self._store = self._recordings = None

    async def callback(self, request: web.Request) -> web.Response:
        """Apply one signed callback once it is committed, and answer with TwiML."""
        services, store, recordings = self._started()
        if request.content_type != FORM_TYPE:
            raise unsupported_media(f"Twilio posts {FORM_TYPE}")
        params = form_pairs(await receive_body(request))
        signature = request.headers.get("X-Twilio-Signature", "")
        if not is_valid(services.settings.sms.twilio.auth_token.reveal(),
                        _called_url(request, services), params, signature):
            raise forbidden("X-Twilio-Signature invalid")
        parsed = parse_voice(dict(params), now=utcnow(),
                             default_region=services.settings.phone.default_region)
        flow_url = services.settings.phone.twilio_flow_url
        spoken: Announcement | None = None
        if parsed.call is not None:
            spoken = await announce_only(services, store, parsed.call)
            if spoken is not None:  # announcement-only: nothing about the call is kept
                self.announced += 1
                return _twiml(twiml(spoken if parsed.call.kind is CallKind.NEW else None))
            with services.ingestor.admission():
                await store.record(parsed.call)
            spoken = await greeting(services, store, parsed.call)
        if parsed.recording is not None:
            await _add_when_known(recordings, parsed.recording)
        self.received += 1
        first = parsed.call is not None and parsed.call.kind is CallKind.NEW
        return _twiml(twiml(spoken, flow_url if first else ""))

    async def audio(self, request: web.Request) -> web.StreamResponse:
        services, _, recordings = self._started()
        return await recordings_api.serve_audio(request, recordings, services.http,
                                                services.settings.sms.twilio,
                                                services.settings.data_dir)

    def _started(self) -> tuple[HubServices, CallStore, Recordings]:
        if self._services is None or self._store is None or self._recordings is None:
            raise RetryLater("the hub is starting")
        return self._services, self._store, self._recordings


def _twiml(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/xml", charset="utf-8")


async def _add_when_known(recordings: Recordings, report: RecordingReport) -> None:
    for wait in (0.0, *UNKNOWN_CALL_WAIT_S):
        await asyncio.sleep(wait)
        if await recordings.add(report) is not None:
            return
    raise NotFound("no call with this CallSid is known")
