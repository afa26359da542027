"""`GET /api/v1/recordings/{recording_id}/audio`: a console plays a recording or voice
message. The audio is fetched from where the provider keeps it and streamed through, or
served from the hub's data folder when the hub keeps it (channels.phone.recording_files);
the listen (who, when, its own id, answered in `X-Listen-Id`) is recorded once the audio is
there to send, so a failed fetch is not counted as a listen.

One enabled phone adapter serves the route for every adapter's recordings
(channels.registry.recording_routes). A passenger's export fetches a provider's audio by the
same request, whole (ProviderAudioFetch, given to the core by channels.registry).
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol, runtime_checkable

from aiohttp import ClientError, ClientResponse, ClientSession, ClientTimeout, web

from channels.phone.recording_files import DEFAULT_SUFFIX, SUFFIX_OF_TYPE, audio_type
from hub.agent_auth import current_agent
from hub.errors import NotFound, RetryLater
from hub.model import Agent, Role
from hub.recording_audio import Audio, AudioMissing
from hub.recording_paths import local_file
from hub.recordings import Recordings, StoredRecording
from hub.settings import TwilioSettings

PATH = "/api/v1/recordings/{recording_id}/audio"
TWILIO_API = "https://api.twilio.com/"
CHUNK_BYTES = 64 * 1024
LISTEN_HEADER = "X-Listen-Id"
# One recording's fetch for an export, all of it: a slow provider cannot hold the export up
# longer (a voice message of minutes is a few MB; Twilio sends it in seconds).
EXPORT_FETCH_S = 30.0


@runtime_checkable
class RecordingPlayer(Protocol):
    """A phone adapter that can serve `PATH` (any adapter's recordings: they share a table)."""

    async def audio(self, request: web.Request) -> web.StreamResponse:
        ...


async def serve_audio(request: web.Request, recordings: Recordings, http: ClientSession,
                      twilio: TwilioSettings, data_dir: Path) -> web.StreamResponse:
    """Stream one recording to a logged-in agent (an external user: only on a request
    assigned to them) and record the listen."""
    agent = await current_agent(request)
    try:
        recording_id = uuid.UUID(request.match_info["recording_id"])
    except ValueError:
        raise NotFound("no such recording") from None
    recording = await recordings.get(recording_id)
    if recording is None or (agent.role is Role.EXTERNAL
                             and recording.assigned_agent_id != agent.id):
        raise NotFound("no such recording")
    kept = local_file(data_dir, recording.location)
    if kept is not None:
        return await _serve_file(kept, recording, recordings, agent)
    async with _provider_answer(http, recording.location, twilio, http.timeout) as upstream:
        listen_id = await recordings.listen(recording, agent)
        response = web.StreamResponse(headers={
            "Content-Type": upstream.headers.get("Content-Type", "audio/wav"),
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
            LISTEN_HEADER: str(listen_id),
        })
        if upstream.content_length is not None:
            response.content_length = upstream.content_length
        await response.prepare(request)
        async for chunk in upstream.content.iter_chunked(CHUNK_BYTES):
            await response.write(chunk)
        await response.write_eof()
        return response


class ProviderAudioFetch:
    """The whole audio of a provider's recording for a passenger's export
    (hub.recording_audio.ProviderAudio): the player's request, bounded in time and size,
    its failings answered as the reason the audio is missing."""

    def __init__(self, http: ClientSession, twilio: TwilioSettings, *, max_bytes: int,
                 timeout_s: float = EXPORT_FETCH_S) -> None:
        self._http, self._twilio = http, twilio
        self._max_bytes, self._timeout_s = max_bytes, timeout_s

    async def fetch(self, location: str) -> Audio | AudioMissing:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._fetch(location)
        except TimeoutError:
            return AudioMissing(f"the provider did not send the audio within "
                                f"{self._timeout_s:g} s")
        except (NotFound, RetryLater) as exc:
            return AudioMissing(exc.reason)

    async def _fetch(self, location: str) -> Audio | AudioMissing:
        too_large = AudioMissing(f"the audio is over phone.recording_max_bytes "
                                 f"({self._max_bytes} bytes)")
        # Its own limit, not the session's for sends (outbound.send_timeout_s).
        limit = ClientTimeout(total=self._timeout_s, connect=min(10.0, self._timeout_s))
        async with _provider_answer(self._http, location, self._twilio, limit) as upstream:
            if upstream.content_length is not None and upstream.content_length > self._max_bytes:
                return too_large
            data = bytearray()
            async for chunk in upstream.content.iter_chunked(CHUNK_BYTES):
                data += chunk
                if len(data) > self._max_bytes:
                    return too_large
            return Audio(bytes(data), SUFFIX_OF_TYPE.get(upstream.content_type.lower(),
                                                         DEFAULT_SUFFIX))

    def __repr__(self) -> str:
        return f"ProviderAudioFetch(timeout_s={self._timeout_s:g}, max_bytes={self._max_bytes})"


@asynccontextmanager
async def _provider_answer(http: ClientSession, location: str, twilio: TwilioSettings,
                           limits: ClientTimeout) -> AsyncIterator[ClientResponse]:
    """The provider's 200 answer carrying a recording's audio, asked with the account's
    credentials. NotFound when the location is no URL or the provider no longer has the
    recording; RetryLater when it answers otherwise or cannot be reached."""
    if not location.startswith(("https://", "http://")):
        raise NotFound("this recording's audio is not reachable from the hub")
    try:
        async with http.get(location, headers=_credentials(location, twilio),
                            timeout=limits) as upstream:
            if upstream.status == 404:
                raise NotFound("the provider no longer has this recording (it answered 404)")
            if upstream.status != 200:
                raise RetryLater(f"the provider answered {upstream.status} for the audio")
            yield upstream
    except (ClientError, TimeoutError) as exc:
        raise RetryLater(f"the recording could not be fetched: {type(exc).__name__}") from exc


async def _serve_file(path: Path, recording: StoredRecording, recordings: Recordings,
                      agent: Agent) -> web.StreamResponse:
    if not await asyncio.to_thread(path.is_file):
        raise NotFound("this recording's audio is no longer kept")
    listen_id = await recordings.listen(recording, agent)
    return web.FileResponse(path, chunk_size=CHUNK_BYTES, headers={
        "Content-Type": audio_type(path), "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff", LISTEN_HEADER: str(listen_id)})


def _credentials(location: str, twilio: TwilioSettings) -> dict[str, str]:
    """Twilio's media wants the account's Basic auth; nobody else is sent it."""
    api = twilio.api_url.rstrip("/") + "/"
    if not twilio.account_sid or not location.startswith((api, TWILIO_API)):
        return {}
    pair = f"{twilio.account_sid}:{twilio.auth_token.reveal()}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
