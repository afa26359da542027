"""The IMAP side of the email channel: one connection to one mailbox, as a poller reads it.

A poller connects, selects (and keeps the UIDVALIDITY it gets), asks for the UIDs after the
last one it handled, fetches each message's exact bytes, marks it taken, and then waits for
news (IDLE where the server has it) before asking again:

    async with MailboxClient(account) as mailbox:
        validity = await mailbox.select()
        for uid in await mailbox.uids_after(last_uid):
            raw = await mailbox.fetch(uid)
            ...
            await mailbox.mark_taken(uid)
        await mailbox.wait_for_news(300)

Errors leave as `RetryLater` (the server is unreachable, slow or hung up: reconnect later)
or `OperatorMustAct` (wrong password, unknown mailbox, untrusted certificate). After a
`RetryLater` the connection is gone; `connect()` opens a new one.

aioimaplib logs whole wire traffic (mail, and a password it fails to scrub when quoting
changes it) at DEBUG and INFO; this module keeps only its warnings.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from base64 import b64encode
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, TypeVar

from aioimaplib import IMAP4, LOGOUT, STOP_WAIT_SERVER_PUSH, AioImapException, Response, quoted
from aioimaplib.aioimaplib import Command

from hub.errors import OperatorMustAct, RetryLater, TaxiConnectError

log = logging.getLogger(__name__)

T = TypeVar("T")
Security = Literal["ssl", "starttls", "none"]
SECURITY_MODES: tuple[Security, ...] = ("ssl", "starttls", "none")

IDLE_MAX_S = 29 * 60.0  # RFC 2177: servers may log out a client that idles for 30 minutes
LOGOUT_TIMEOUT_S = 5.0
RETRY_AFTER_S = 10  # a mail server that is down is rarely back within a second
# RFC 5530 response codes saying that the same request may succeed a little later.
TRANSIENT_CODES = (b"[UNAVAILABLE]", b"[SERVERBUG]", b"[INUSE]", b"[LIMIT]")

_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_EXISTS = re.compile(rb"^(\d+) EXISTS$")
_NEWS = re.compile(rb"^\d+ (EXISTS|RECENT)$")
_FETCH_BODY = re.compile(rb"^\d+ FETCH \(.*BODY\[\] \{\d+\}$")
_UID = re.compile(rb"\bUID (\d+)\b")


class _WarningsOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


logging.getLogger("aioimaplib.aioimaplib").addFilter(_WarningsOnly())


@dataclass(frozen=True)
class ImapAccount:
    """Where the channel's mail is read, and what is done with a message once taken."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    mailbox: str = "INBOX"
    security: Security = "ssl"
    move_to: str | None = None  # a mailbox to move taken mail into; None leaves it, \Seen
    timeout_s: float = 30.0  # the longest one IMAP command may take

    def __post_init__(self) -> None:
        if self.security not in SECURITY_MODES:
            raise OperatorMustAct(
                f"IMAP security {self.security!r} is unknown; use one of {list(SECURITY_MODES)}")
        if self.timeout_s <= 0:
            raise OperatorMustAct(f"IMAP timeout_s must be positive, not {self.timeout_s}")

    def __repr__(self) -> str:
        return (f"ImapAccount({self.host}:{self.port}/{self.security},"
                f" user={mask_user(self.user)!r}, mailbox={self.mailbox!r},"
                f" move_to={self.move_to!r})")


def mask_user(user: str) -> str:
    """For logs: `tilaukset@taksi.fi` becomes `t***@taksi.fi`."""
    local, at, domain = user.partition("@")
    return f"{local[:1]}***{at}{domain}"


def imap_utf7(name: str) -> str:
    """A mailbox name as IMAP writes it: modified UTF-7 (RFC 3501 5.1.3), so `Käsitelty`
    is `K&AOQ-sitelty`."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            packed = b64encode("".join(run).encode("utf-16-be")).rstrip(b"=")
            out.append("&" + packed.replace(b"/", b",").decode() + "-")
            run.clear()

    for char in name:
        if " " <= char <= "~":
            flush()
            out.append("&-" if char == "&" else char)
        else:
            run.append(char)
    flush()
    return "".join(out)


class MailboxClient:
    """One IMAP connection to the account's mailbox (see the module docstring).

    `ssl_context` replaces the system's trusted certificates, e.g. for a private CA.
    """

    def __init__(self, account: ImapAccount, ssl_context: ssl.SSLContext | None = None) -> None:
        self.account = account
        self._ssl_context = ssl_context
        self._imap: IMAP4 | None = None
        self._lost: asyncio.Future[None] | None = None
        self._caps: frozenset[str] = frozenset()
        self._selected = False
        self.uidvalidity: int | None = None
        self.exists = 0  # messages in the mailbox when it was selected
        self.highest_uid = 0  # the highest UID that uids_after has reported or been given
        self.connects = 0
        self.fetched = 0
        self.taken = 0

    def __repr__(self) -> str:
        a = self.account
        return (f"MailboxClient({a.host}:{a.port}/{a.security}, user={mask_user(a.user)!r},"
                f" mailbox={a.mailbox!r}, connected={self._imap is not None},"
                f" uidvalidity={self.uidvalidity}, highest_uid={self.highest_uid},"
                f" connects={self.connects}, fetched={self.fetched}, taken={self.taken})")

    async def __aenter__(self) -> MailboxClient:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    @property
    def supports_idle(self) -> bool:
        """Whether the server announced IDLE (known once connected)."""
        return "IDLE" in self._caps

    async def connect(self) -> None:
        """Open the connection (TLS as the account says) and log in; closes any earlier one."""
        await self.close()
        a = self.account
        context = None
        if a.security != "none":
            context = self._ssl_context or ssl.create_default_context()
        self._lost = asyncio.get_running_loop().create_future()
        # IMAP4 with an ssl_context is what IMAP4_SSL does, but only IMAP4 passes on the
        # connection-lost callback that lets a hung-up server fail calls at once.
        self._imap = imap = IMAP4(a.host, a.port, timeout=a.timeout_s, conn_lost_cb=self._on_lost,
                                  ssl_context=context if a.security == "ssl" else None)
        try:
            await self._guarded("connect", imap.wait_hello_from_server())
            if a.security == "starttls":
                assert context is not None
                await self._starttls(imap, context)
            if "LOGINDISABLED" in imap.protocol.capabilities:
                raise OperatorMustAct(f"IMAP server {a.host}:{a.port} refuses to log in without"
                                      " TLS; set security to 'ssl' or 'starttls'")
            response = await self._guarded("LOGIN", imap.login(quoted(a.user), a.password))
            if response.result != "OK":
                raise self._refused("LOGIN", response)
        except BaseException:
            await self._drop()
            raise
        self._caps = frozenset(imap.protocol.capabilities)
        self.connects += 1
        log.info("IMAP connected to %s:%d/%s as %s (IDLE %s, MOVE %s)", a.host, a.port,
                 a.security, mask_user(a.user), self.supports_idle, "MOVE" in self._caps)

    async def select(self) -> int:
        """Open the account's mailbox; returns its UIDVALIDITY.

        UIDs are only comparable while UIDVALIDITY stays the same: when it changes, every
        stored UID of this mailbox is void.
        """
        imap = self._open()
        mailbox = self.account.mailbox
        response = await self._guarded("SELECT", imap.select(quoted(imap_utf7(mailbox))))
        if response.result != "OK":
            raise self._refused(f"SELECT {mailbox!r}", response)
        validity = None
        for line in _lines(response):
            if found := _UIDVALIDITY.search(line):
                validity = int(found.group(1))
            elif found := _EXISTS.match(line):
                self.exists = int(found.group(1))
        if validity is None:
            raise OperatorMustAct(f"IMAP server {self.account.host} sent no UIDVALIDITY")
        self.uidvalidity = validity
        self._selected = True
        return validity

    async def uids_after(self, last_uid: int) -> list[int]:
        """The UIDs greater than `last_uid` in the selected mailbox, ascending."""
        imap = self._open(selected=True)
        # `n:*` always includes the highest UID, even when it is below n (RFC 3501 6.4.8).
        response = await self._guarded(
            "UID SEARCH", imap.uid_search(f"UID {last_uid + 1}:*", charset=None))
        if response.result != "OK":
            raise self._refused("UID SEARCH", response)
        uids = sorted({int(word) for line in _lines(response)[:-1] for word in line.split()
                       if word.isdigit() and int(word) > last_uid})
        self.highest_uid = max(self.highest_uid, last_uid, *uids)
        return uids

    async def fetch(self, uid: int) -> bytes | None:
        """The message's raw RFC 822 bytes, exactly as stored; None when it is gone.

        BODY.PEEK leaves \\Seen alone: a message is only marked once it has been taken.
        """
        imap = self._open(selected=True)
        response = await self._guarded("UID FETCH", imap.uid("fetch", str(uid), "(BODY.PEEK[])"))
        if response.result == "NO" and b"[EXPUNGEISSUED]" in _text(response):
            return None
        if response.result != "OK":
            raise self._refused("UID FETCH", response)
        lines = response.lines
        for i in range(len(lines) - 2):
            head, body, tail = lines[i], lines[i + 1], lines[i + 2]
            if isinstance(head, bytearray) or not isinstance(body, bytearray):
                continue
            if not _FETCH_BODY.match(head):
                continue
            found = _UID.search(bytes(head)) or _UID.search(bytes(tail))
            if found is None or int(found.group(1)) == uid:
                self.fetched += 1
                return bytes(body)
        return None

    async def mark_taken(self, uid: int, *, move: bool = True) -> None:
        """Flag the message \\Seen and, if the account says so and `move`, move it to
        `move_to` (a mail the hub refused stays where a person looks for it)."""
        imap = self._open(selected=True)
        await self._ok("UID STORE", imap.uid("store", str(uid), "+FLAGS.SILENT", r"(\Seen)"))
        if move and self.account.move_to is not None:
            target = quoted(imap_utf7(self.account.move_to))
            if "MOVE" in self._caps:
                await self._into(target, "UID MOVE", lambda: imap.uid("move", str(uid), target))
            else:
                await self._into(target, "UID COPY", lambda: imap.uid("copy", str(uid), target))
                await self._ok("UID STORE", imap.uid("store", str(uid), "+FLAGS.SILENT",
                                                     r"(\Deleted)"))
                # Without UIDPLUS a plain EXPUNGE would also remove what others flagged
                # \Deleted; the copy stays flagged for the mailbox's owner to expunge.
                if "UIDPLUS" in self._caps:
                    await self._ok("UID EXPUNGE", imap.uid("expunge", str(uid)))
        self.taken += 1

    async def wait_for_news(self, timeout_s: float) -> bool:
        """Wait until the server announces new mail (True) or `timeout_s` passes (False).

        Mail that arrived after the last `uids_after` counts as news at once. Without IDLE
        this only sleeps and returns True, so the caller polls. Waits are capped at 29 min.
        """
        imap = self._open(selected=True)
        if not self.supports_idle:
            await asyncio.sleep(timeout_s)
            return True
        if await self.uids_after(self.highest_uid):
            return True
        idle = await self._guarded("IDLE", imap.idle_start(timeout=IDLE_MAX_S))
        news = False
        try:
            async with asyncio.timeout(min(timeout_s, IDLE_MAX_S)):
                while not news:
                    push = await self._guarded("IDLE", imap.wait_server_push(IDLE_MAX_S),
                                               limit_s=IDLE_MAX_S)
                    news = _announces_mail(push)
        except TimeoutError:
            pass
        finally:
            still_connected = self._imap is imap
            if still_connected:  # end IDLE, even when cancelled
                imap.idle_done()
        await self._guarded("IDLE DONE", idle)
        queue = imap.protocol.idle_queue
        while not queue.empty():
            news = _announces_mail(queue.get_nowait()) or news
        return news

    async def close(self) -> None:
        """Log out and close the connection. Never raises; closing twice is fine."""
        imap = self._imap
        if imap is None:
            return
        try:
            if self._lost is not None and not self._lost.done() and imap.get_state() != LOGOUT:
                await asyncio.wait_for(imap.logout(), LOGOUT_TIMEOUT_S)
        except Exception as exc:  # closing is best effort: the socket goes either way
            log.debug("IMAP logout from %s failed: %r", self.account.host, exc)
        finally:
            await self._drop()

    def _open(self, selected: bool = False) -> IMAP4:
        if self._imap is None:
            raise RetryLater(f"IMAP connection to {self.account.host} is not open",
                             retry_after_s=RETRY_AFTER_S)
        if selected and not self._selected:
            raise RuntimeError("select() the mailbox first")
        return self._imap

    def _on_lost(self, exc: Exception | None) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    async def _guarded(self, what: str, aw: Awaitable[T], limit_s: float | None = None) -> T:
        """Await one IMAP step: bounded in time (`limit_s`, else the account's timeout), cut
        short when the server hangs up, library and socket errors converted. Any failure
        drops the connection."""
        host = self.account.host
        limit_s = self.account.timeout_s if limit_s is None else limit_s
        task = asyncio.ensure_future(aw)
        waiters: set[asyncio.Future[Any]] = {task}
        if self._lost is not None:
            waiters.add(self._lost)
        try:
            await asyncio.wait(waiters, timeout=limit_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not task.done():
                task.cancel()
                task.add_done_callback(_retrieve)
        error: TaxiConnectError
        if task.done() and not task.cancelled():
            try:
                return task.result()
            except ssl.SSLCertVerificationError as exc:
                error = OperatorMustAct(
                    f"IMAP server {host} has an untrusted certificate: {exc.verify_message}")
            except (OSError, TimeoutError, AioImapException) as exc:
                error = RetryLater(f"IMAP {what} at {host} failed: {exc!r}",
                                   retry_after_s=RETRY_AFTER_S)
        elif self._lost is not None and self._lost.done():
            error = RetryLater(f"IMAP server {host} closed the connection during {what}",
                               retry_after_s=RETRY_AFTER_S)
        else:
            error = RetryLater(f"IMAP {what} at {host} got no answer in {limit_s:g} s",
                               retry_after_s=RETRY_AFTER_S)
        await self._drop()
        raise error

    async def _ok(self, what: str, aw: Awaitable[Response]) -> Response:
        response = await self._guarded(what, aw)
        if response.result != "OK":
            raise self._refused(what, response)
        return response

    async def _into(self, target: str, what: str,
                    command: Callable[[], Awaitable[Response]]) -> None:
        response = await self._guarded(what, command())
        if response.result == "NO" and b"[TRYCREATE]" in _text(response):
            assert self._imap is not None
            created = await self._guarded("CREATE", self._imap.create(target))
            if created.result != "OK" and b"[ALREADYEXISTS]" not in _text(created):
                raise self._refused(f"CREATE {self.account.move_to!r}", created)
            response = await self._guarded(what, command())
        if response.result != "OK":
            raise self._refused(f"{what} to {self.account.move_to!r}", response)

    async def _starttls(self, imap: IMAP4, context: ssl.SSLContext) -> None:
        # aioimaplib 2.0 has no STARTTLS of its own: send the command, then upgrade the
        # transport under the same protocol object.
        a = self.account
        protocol = imap.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise OperatorMustAct(f"IMAP server {a.host}:{a.port} does not offer STARTTLS")
        response = await self._guarded(
            "STARTTLS", protocol.execute(Command("STARTTLS", protocol.new_tag())))
        if response.result != "OK":
            raise self._refused("STARTTLS", response)
        loop = asyncio.get_running_loop()
        protocol.transport = await self._guarded("TLS handshake", loop.start_tls(
            protocol.transport, protocol, context, server_hostname=a.host))
        # What the server said before TLS may have been forged (RFC 3501 6.2.1).
        await self._guarded("CAPABILITY", protocol.capability())

    def _refused(self, what: str, response: Response) -> TaxiConnectError:
        text = _text(response)
        said = text[-200:].decode(errors="replace")
        if any(code in text for code in TRANSIENT_CODES):
            return RetryLater(f"IMAP {what} at {self.account.host} refused for now: {said}",
                              retry_after_s=RETRY_AFTER_S)
        return OperatorMustAct(f"IMAP {what} at {self.account.host} as"
                               f" {mask_user(self.account.user)} refused: {said}")

    async def _drop(self) -> None:
        """Close the socket at once and forget the connection."""
        imap, self._imap = self._imap, None
        self._caps = frozenset()
        self._selected = False
        if imap is None:
            return
        for task in (imap._client_task, *imap.tasks, *imap.protocol.tasks):
            task.cancel()
        transport = imap.protocol.transport
        lost = self._lost
        if transport is not None:
            transport.abort()
            # The socket is only closed once connection_lost has run.
            if lost is not None and not lost.done():
                await asyncio.wait({lost}, timeout=1.0)


def _lines(response: Response) -> list[bytes]:
    """The response's text lines, without literals."""
    return [line for line in response.lines if not isinstance(line, bytearray)]


def _text(response: Response) -> bytes:
    """The text after the tagged status, e.g. `[AUTHENTICATIONFAILED] Authentication failed.`"""
    lines = _lines(response)
    return lines[-1] if lines else b""


def _announces_mail(push: list[bytes]) -> bool:
    return push is not STOP_WAIT_SERVER_PUSH and any(_NEWS.match(line) for line in push)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
