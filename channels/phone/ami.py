"""The Asterisk AMI client, a phone channel with no HTTP routes: it connects to
`phone.ami.host:port`, logs in (`Events: on`), and turns the call events it is sent into
the call model (channels.phone.ami_calls). After each login it asks Asterisk which channels
are up and ends the calls that ended while it was away (channels.phone.ami_reconcile). A
dropped or refused connection is tried again with exponential backoff; a quiet one is asked
for a Ping, and given up if it stays silent.
`originate` places a dispatcher's callback through the PBX (channels.phone.ami_originate).
With `phone.ami.recordings_dir` set, the recordings and voice messages its events finish
(channels.phone.ami_recordings) are taken from the mounted spool (channels.phone.ami_spool).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import uuid
from typing import ClassVar

from aiohttp import web

from channels.base import HubServices
from channels.phone import recordings_api
from channels.phone.ami_calls import PROVIDER, AmiCalls
from channels.phone.ami_originate import check_settings, originate_fields
from channels.phone.ami_protocol import AmiParser, AmiProtocolError, Packet, encode_action
from channels.phone.ami_reconcile import ACTION as LIST_CHANNELS
from channels.phone.ami_reconcile import ChannelList
from channels.phone.ami_recordings import AmiRecordings
from channels.phone.ami_spool import SpoolKeeper
from hub.call_events import CallEvent
from hub.calls import CallStore
from hub.clock import utcnow
from hub.errors import BadInput, OperatorMustAct, RetryLater
from hub.model import Channel
from hub.phone import mask_phone
from hub.recordings import Recordings
from hub.settings import AmiSettings
from hub.tasks import stop_task

log = logging.getLogger(__name__)

INITIAL_BACKOFF_S = 0.5  # after a session that logged in; doubles while nothing works
MAX_BACKOFF_S = 60.0
CONNECT_TIMEOUT_S = 10.0
IDLE_S = 20.0  # this long without a byte, a Ping asks; as long again unanswered: reconnect
READ_BYTES = 64 * 1024
EVENT_RETRIES_S = (0.2, 1.0, 3.0)  # a call event the hub could not store yet is tried again
ANSWER_S = 5.0  # Asterisk answers an Async Originate at once: silence this long is trouble


class AmiLoginRefused(Exception):
    """Asterisk refused the username or secret: the operator must fix phone.ami."""


class AsteriskAmiChannel:
    name: ClassVar[str] = "asterisk_ami"
    channel: ClassVar[Channel] = Channel.PHONE
    max_body_chars: ClassVar[int] = 200  # a call's contact is a one-line note
    can_reply: ClassVar[bool] = False

    def __init__(self) -> None:
        self._settings: AmiSettings | None = None
        self._store: CallStore | None = None
        self._calls: AmiCalls | None = None
        self._services: HubServices | None = None
        self._recordings: Recordings | None = None
        self._files = AmiRecordings()
        self._spool: SpoolKeeper | None = None
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._answers: dict[str, asyncio.Future[Packet]] = {}  # ActionID -> its Response
        self._region = ""
        self._listing: ChannelList | None = None  # the CoreShowChannels being answered
        self.logged_in = False
        self.originated = 0
        self.connects = 0
        self.logins = 0
        self.events = 0
        self.lost = 0
        self.ended_unseen = 0  # calls found ended after a (re)login

    def __repr__(self) -> str:
        where = f"{self._settings.host}:{self._settings.port}" if self._settings else "-"
        return (f"<AsteriskAmiChannel {where} logged_in={self.logged_in} "
                f"connects={self.connects} logins={self.logins} events={self.events} "
                f"lost={self.lost} ended_unseen={self.ended_unseen} "
                f"originated={self.originated} {self._calls!r} {self._spool!r}>")

    def routes(self) -> list[web.RouteDef]:
        return []

    async def start(self, services: HubServices) -> None:
        ami = services.settings.phone.ami
        if not ami.host or not ami.user or not ami.secret:
            raise OperatorMustAct("asterisk_ami is enabled but phone.ami host, user and "
                                  "secret are not all set")
        try:
            check_settings(ami)
        except ValueError as exc:
            raise OperatorMustAct(str(exc)) from exc
        self._settings = ami
        self._region = services.settings.phone.default_region
        self._store = services.calls
        self._calls = AmiCalls(services.settings.phone.default_region)
        self._services = services
        self._recordings = services.recordings
        if ami.recordings_dir:
            self._spool = SpoolKeeper(ami, self._recordings, services.settings.data_dir,
                                      services.settings.phone.recording_max_bytes)
        self._task = asyncio.create_task(self._run(), name="asterisk-ami")

    async def stop(self) -> None:
        if self._task is not None:
            await stop_task(self._task)
        self._task = None
        if self._spool is not None:
            await self._spool.stop()

    @property
    def recordings_kept(self) -> int:
        return self._spool.kept if self._spool is not None else 0

    @property
    def recordings_lost(self) -> int:
        return self._spool.lost if self._spool is not None else 0

    async def audio(self, request: web.Request) -> web.StreamResponse:
        """Play a recording (recordings_api), for every phone adapter's recordings."""
        services, recordings = self._services, self._recordings
        if services is None or recordings is None:
            raise RetryLater("the hub is starting")
        return await recordings_api.serve_audio(request, recordings, services.http,
                                                services.settings.sms.twilio,
                                                services.settings.data_dir)

    async def _run(self) -> None:
        backoff = INITIAL_BACKOFF_S
        while True:
            self.logged_in = False
            try:
                await self._session()
                log.warning("Asterisk AMI %r closed the connection", self)
            except AmiLoginRefused as exc:
                log.error("Asterisk AMI refused the login as %s: %s",
                          self._settings.user if self._settings else "?", exc)
            except (OSError, TimeoutError, AmiProtocolError) as exc:
                log.warning("Asterisk AMI %r: %s", self, exc or type(exc).__name__)
            if self.logged_in:
                backoff = INITIAL_BACKOFF_S
            self.logged_in = False
            await asyncio.sleep(backoff)
            backoff = min(MAX_BACKOFF_S, backoff * 2)

    async def _session(self) -> None:
        """One connection, from login until Asterisk or the network ends it."""
        assert self._settings is not None
        ami = self._settings
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(ami.host, ami.port, ssl=ssl.create_default_context(
                cafile=ami.ca_file or None) if ami.tls else None), CONNECT_TIMEOUT_S)
        self.connects += 1
        parser, login_id = AmiParser(), f"login-{uuid.uuid4().hex[:12]}"
        self._writer = writer
        try:
            writer.write(encode_action("Login", {
                "ActionID": login_id, "Username": ami.user, "Secret": ami.secret.reveal(),
                "Events": "on"}))
            await writer.drain()
            pinged = False
            while True:
                try:
                    data = await asyncio.wait_for(reader.read(READ_BYTES), IDLE_S)
                except TimeoutError:
                    if pinged:
                        raise TimeoutError("Asterisk did not answer a ping") from None
                    writer.write(encode_action("Ping", {"ActionID": f"ping-{uuid.uuid4()}"}))
                    await writer.drain()
                    pinged = True
                    continue
                if not data:
                    return
                pinged = False
                for packet in parser.feed(data):
                    await self._packet(packet, login_id, parser.greeting)
        finally:
            self._writer = None
            self._listing = None
            for answer in self._answers.values():
                if not answer.done():
                    answer.set_exception(ConnectionError("the AMI connection closed"))
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()

    async def _packet(self, packet: Packet, login_id: str, greeting: str | None) -> None:
        if packet.get("ActionID") == login_id and "Response" in packet:
            if packet["Response"] != "Success":
                raise AmiLoginRefused(packet.get("Message", "login refused"))
            self.logged_in = True
            self.logins += 1
            log.info("Asterisk AMI logged in: %r (%s)", self, greeting or "no greeting")
            await self._list_channels()
            return
        listing = self._listing
        if listing is not None and packet.get("ActionID") == listing.action_id:
            outcome = listing.feed(packet)
            if outcome == "refused":
                self._listing = None
                log.warning("Asterisk AMI will not list its channels (%s): calls that ended "
                            "while the hub was away stay open", packet.get("Message", "?"))
            elif outcome == "complete":
                self._listing = None
                await self._reconcile(listing)
            return
        answer = self._answers.get(packet.get("ActionID", ""))
        if answer is not None and "Response" in packet and not answer.done():
            answer.set_result(packet)
            return
        if packet.get("Event") == "OriginateResponse":  # Async: the dispatcher's phone's fate
            log.info("Asterisk Originate %s: %s (reason %s)", packet.get("ActionID", "?"),
                     packet.get("Response", "?"), packet.get("Reason", "?"))
        if not self.logged_in or "Event" not in packet or self._calls is None:
            return
        now = utcnow()
        event = self._calls.translate(packet, now)
        if event is not None:
            await self._record(event)
        if self._spool is not None:
            for finished in self._files.translate(packet, now):
                self._spool.keep(finished)  # after its call's hang-up is stored

    async def _list_channels(self) -> None:
        """Ask which channels are up; the answer arrives as packets (see _packet)."""
        writer = self._writer
        if writer is None:
            return
        self._listing = ChannelList(f"channels-{uuid.uuid4().hex[:12]}", utcnow())
        writer.write(encode_action(LIST_CHANNELS, {"ActionID": self._listing.action_id}))
        await writer.drain()

    async def _reconcile(self, listing: ChannelList) -> None:
        """End the stored calls Asterisk no longer has: they ended while the hub was away."""
        assert self._store is not None
        try:
            stale = await self._store.unfinished(PROVIDER, listing.asked_at)
        except RetryLater as exc:
            log.warning("Asterisk AMI could not look for calls that ended unseen: %s",
                        exc.reason)
            return
        ended = [event for event in stale if event.call_key not in listing.live]
        for event in ended:
            await self._record(event)
        self.ended_unseen += len(ended)
        log.info("Asterisk AMI: %d channel(s) up, %d call(s) ended while the hub was away",
                 listing.items, len(ended))

    async def originate(self, *, extension: str, number: str, reference: str) -> str:
        """Ring the dispatcher's phone at `extension`, then dial the passenger's `number`
        (E.164) for request `reference`; the call's events reach that request. Returns the
        ActionID once Asterisk has queued the call. RetryLater when Asterisk is not
        connected, refuses (the manager user lacks `originate`), or does not answer."""
        writer, ami = self._writer, self._settings
        if writer is None or ami is None or not self.logged_in:
            raise RetryLater("the PBX is not connected", retry_after_s=5)
        action_id = f"originate-{uuid.uuid4().hex[:12]}"
        fields = originate_fields(ami, action_id=action_id, extension=extension,
                                  number=number, reference=reference, region=self._region)
        answer: asyncio.Future[Packet] = asyncio.get_running_loop().create_future()
        self._answers[action_id] = answer
        try:
            writer.write(encode_action("Originate", fields))
            await writer.drain()
            packet = await asyncio.wait_for(answer, ANSWER_S)
        except (OSError, ConnectionError, TimeoutError) as exc:
            raise RetryLater(f"the PBX did not take the call: {exc or 'no answer'}",
                             retry_after_s=5) from exc
        finally:
            self._answers.pop(action_id, None)
        if packet.get("Response") != "Success":
            reason = packet.get("Message", "refused")
            log.error("Asterisk refused to originate a call to %s: %s", mask_phone(number),
                      reason)
            raise RetryLater(f"the PBX refused the call: {reason}", retry_after_s=5)
        self.originated += 1
        log.info("Asterisk originates %s: extension %s calls %s back", action_id, extension,
                 mask_phone(number))
        return action_id

    async def _record(self, event: CallEvent) -> None:
        assert self._store is not None
        reason = ""
        for wait in (0.0, *EVENT_RETRIES_S):
            await asyncio.sleep(wait)
            try:
                await self._store.record(event)
            except BadInput as exc:
                log.info("Asterisk AMI %s event not kept: %s", event.kind.value, exc.reason)
                return
            except RetryLater as exc:  # the hub at capacity, or its database away
                reason = exc.reason
                continue
            except Exception:
                log.exception("Asterisk AMI %s event could not be stored", event.kind.value)
                self.lost += 1
                return
            self.events += 1
            return
        self.lost += 1
        log.error("Asterisk AMI %s event lost after retries: %s", event.kind.value, reason)
