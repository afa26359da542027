"""The generic CTI webhook `POST /webhooks/phone/cti`: a PBX reports each call's events
(newCall, answer, hangup) as JSON or a form, authenticated by the shared secret
`phone.cti_secret` in the `X-CTI-Token` header or the `token` query parameter.

A `recording` or `voicemail` event names the audio of a known call by URL: the hub fetches
it, from an origin in `phone.recording_sources` only, into its data folder
(channels.phone.recording_files) before it stores the recording and answers."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from pathlib import Path
from typing import Any, ClassVar

from aiohttp import web

from channels.base import HubServices
from channels.phone import recording_files, recordings_api
from channels.phone.announce import announce_only, cti_answer, greeting
from channels.phone.cti_events import PROVIDER, is_recording, parse_cti, parse_cti_recording
from channels.sms.webhooks import FORM_TYPE, JSON_TYPE, forbidden, form_pairs, unsupported_media
from hub.call_events import CallKind
from hub.calls import CallStore
from hub.clock import utcnow
from hub.errors import BadInput, NotFound, OperatorMustAct, RetryLater
from hub.model import Channel
from hub.recordings import RecordingReport, Recordings
from hub.request_body import BODY_TIMEOUT_S, receive_body

log = logging.getLogger(__name__)

PATH = "/webhooks/phone/cti"
TOKEN_HEADER = "X-CTI-Token"
MULTIPART_TYPE = "multipart/form-data"


class CtiPhoneChannel:
    name: ClassVar[str] = "phone_cti"
    channel: ClassVar[Channel] = Channel.PHONE
    max_body_chars: ClassVar[int] = 200  # a call's contact is a one-line note
    can_reply: ClassVar[bool] = False

    def __init__(self) -> None:
        self._services: HubServices | None = None
        self._store: CallStore | None = None
        self._recordings: Recordings | None = None
        self.received = 0
        self.refused = 0
        self.announced = 0
        self.recordings = 0

    def __repr__(self) -> str:
        return (f"<CtiPhoneChannel started={self._services is not None} "
                f"received={self.received} refused={self.refused} "
                f"recordings={self.recordings}>")

    def routes(self) -> list[web.RouteDef]:
        return [web.post(PATH, self.event)]

    async def start(self, services: HubServices) -> None:
        if not services.settings.phone.cti_secret:
            raise OperatorMustAct("phone_cti is enabled but phone.cti_secret is not set")
        self._services = services
        self._store = services.calls
        self._recordings = services.recordings

    async def stop(self) -> None:
        self._services = self._store = self._recordings = None

    async def event(self, request: web.Request) -> web.Response:
        """Store one call event; `{}` once it is committed (a repeat changes nothing), or
        the service notice to announce (see docs/generic-cti.md)."""
        services, store = self._services, self._store
        if services is None or store is None:
            raise RetryLater("the hub is starting")
        self._authenticate(request, services.settings.phone.cti_secret.reveal())
        fields = await _fields(request)
        if is_recording(fields):
            await self._recording(services, fields)
            return web.json_response({})
        with services.ingestor.admission():
            event = parse_cti(fields, default_region=services.settings.phone.default_region,
                              now=utcnow())
            spoken = await announce_only(services, store, event)
            if spoken is not None:  # announcement-only: nothing about the call is kept
                self.announced += 1
                return web.json_response(cti_answer(
                    spoken if event.kind is CallKind.NEW else None))
            await store.record(event)
        self.received += 1
        return web.json_response(cti_answer(await greeting(services, store, event)))

    async def audio(self, request: web.Request) -> web.StreamResponse:
        """Play a recording (recordings_api), for every phone adapter's recordings."""
        services, recordings = self._services, self._recordings
        if services is None or recordings is None:
            raise RetryLater("the hub is starting")
        return await recordings_api.serve_audio(request, recordings, services.http,
                                                services.settings.sms.twilio,
                                                services.settings.data_dir)

    async def _recording(self, services: HubServices, fields: dict[str, list[str]]) -> None:
        """Fetch the audio of a known call from an allowed origin, then store it; a repeat
        of a stored one fetches nothing."""
        recordings, phone = self._recordings, services.settings.phone
        assert recordings is not None
        event = parse_cti_recording(fields, now=utcnow())
        if not recording_files.is_allowed(event.url, phone.recording_sources):
            raise BadInput("url is not on an origin in phone.recording_sources",
                           {"url": "not allowed"})
        if not await recordings.call_known(PROVIDER, (event.call_id,)):
            raise NotFound("no call with this callId is known")
        if await recordings.location_of(PROVIDER, event.recording_id) is not None:
            return  # a repeat
        kept = await recording_files.fetch(
            services.http, event.url, services.settings.data_dir,
            token=phone.recording_fetch_token.reveal(), max_bytes=phone.recording_max_bytes)
        try:
            added = await recordings.add(RecordingReport(
                provider=PROVIDER, call_keys=(event.call_id,), provider_id=event.recording_id,
                location=str(kept), duration_s=event.duration_s,
                completed_at=event.completed_at, transcription=event.transcription,
                kind=event.kind))
        finally:
            await _drop_unless_kept(recordings, event.recording_id, kept)
        if added is None:
            raise NotFound("no call with this callId is known")
        self.recordings += 1
        log.info("generic CTI %s of call %s kept (%s)", event.kind, event.call_id, kept.name)

    def _authenticate(self, request: web.Request, secret: str) -> None:
        given = request.headers.get(TOKEN_HEADER) or request.query.get("token", "")
        if not given:
            self.refused += 1
            raise web.HTTPUnauthorized(text=json.dumps({"error": "Invalid token!"}),
                                       content_type=JSON_TYPE)
        if not hmac.compare_digest(given.encode(), secret.encode()):
            self.refused += 1
            raise forbidden("Invalid token!")


async def _drop_unless_kept(recordings: Recordings, recording_id: str, kept: Path) -> None:
    """A file fetched for a recording another request stored first (or none) goes again."""
    try:
        stored = await recordings.location_of(PROVIDER, recording_id)
    except RetryLater:
        return  # unknown whether it was stored: better an orphan file than a lost one
    if stored != str(kept):
        await asyncio.to_thread(kept.unlink, missing_ok=True)


async def _fields(request: web.Request) -> dict[str, list[str]]:
    """The event's fields, each with its values (`user[]` filed as `user`)."""
    pairs: list[tuple[str, Any]]
    if request.content_type == JSON_TYPE:
        raw = await receive_body(request)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise BadInput("the body is not a JSON object") from exc
        if not isinstance(body, dict):
            raise BadInput("the body is not a JSON object")
        pairs = [(key, value) for key, values in body.items()
                 for value in (values if isinstance(values, list) else [values])]
    elif request.content_type == FORM_TYPE:
        pairs = list(form_pairs(await receive_body(request)))
    elif request.content_type == MULTIPART_TYPE:
        try:
            pairs = list((await asyncio.wait_for(request.post(), BODY_TIMEOUT_S)).items())
        except TimeoutError:
            raise web.HTTPRequestTimeout(text="the body did not arrive in time") from None
    else:
        raise unsupported_media(f"send {JSON_TYPE} or a form")
    fields: dict[str, list[str]] = {}
    for key, value in pairs:
        if value is None or isinstance(value, dict | list) or not isinstance(key, str):
            continue
        if not isinstance(value, str | int | float):
            continue  # an uploaded file: no CTI field is one
        fields.setdefault(key.removesuffix("[]"), []).append(str(value))
    return fields
