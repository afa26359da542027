"""A throwaway Dovecot 2.3 IMAP server for tests, and the mail server's side of IMAP.

`Dovecot` starts `dovecot -F` on free ports of 127.0.0.1 with a config of its own (never
/etc/dovecot), maildirs in a temporary directory, and stops it again; it works as root and
as an ordinary user. Any user name logs in with the server's one password, so `add_user()`
only picks a new name, whose mailboxes are empty. When `openssl` is present the server also
speaks TLS: STARTTLS on `port` and implicit TLS on `tls_port`, with a self-signed
certificate in `cafile`.

`append`, `list_uids` and `flags_of` talk plain IMAP with aioimaplib on a connection of
their own: `append` is how mail "arrives" in these tests, the other two are for assertions.
Mailbox names are passed as they go on the wire (modified UTF-7, e.g. "K&AOQ-sitelty").
The recipe and its pitfalls: /work/shared/test-services.md, section 1.
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from aioimaplib import IMAP4, Response, quoted

HOST = "127.0.0.1"
IMAP_TIMEOUT_S = 10.0
# Debian installs the binaries in /usr/sbin, which is not on an ordinary user's PATH.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])

CONF_TEMPLATE = """\
# Throwaway Dovecot 2.3 instance for tests -- does NOT read /etc/dovecot
protocols = imap
listen = {host}
base_dir = {d}/run
state_dir = {d}/state
instance_name = test-dovecot-{port}
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
debug_log_path = {d}/dovecot.log

default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = 0
first_valid_gid = 0

{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
# The wrong-password test would otherwise wait the default 2 s.
auth_failure_delay = 0

# Every user name logs in with the one password, so a test's fresh user needs no passwd
# file: passwd-file notices a changed file only once a second.
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home/%n
}}

mail_location = maildir:{d}/mail/%n
mail_fsync = never

# After a failed login every login from the same IP waits 2-15 s (auth penalty, kept by
# anvil). An auth process that cannot reach anvil's penalty socket skips the penalty.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{nonroot_extra}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {tls_port}
  }}
}}
"""

# A non-root master cannot chroot its login and anvil processes.
NONROOT_EXTRA = """\
service imap-login {
  chroot =
}
service anvil {
  chroot =
}
"""


def find_dovecot() -> str | None:
    """The path of the `dovecot` binary, or None when Dovecot is not installed."""
    return shutil.which("dovecot", path=SEARCH_PATH)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class MailUser:
    """One IMAP login on a running `Dovecot`, with the mail server's side of IMAP."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    tls_port: int | None = None  # implicit TLS; None when the server has no certificate
    cafile: Path | None = None  # the certificate to trust for TLS

    async def append(self, raw: bytes, mailbox: str = "INBOX",
                     flags: Iterable[str] = ()) -> int:
        """Deliver `raw` into `mailbox` (created if missing); returns its UID."""
        return await append(self.host, self.port, self.user, self.password, raw,
                            mailbox=mailbox, flags=flags)

    async def list_uids(self, mailbox: str = "INBOX", criteria: str = "ALL") -> list[int]:
        return await list_uids(self.host, self.port, self.user, self.password,
                               mailbox=mailbox, criteria=criteria)

    async def flags_of(self, uid: int, mailbox: str = "INBOX") -> frozenset[str]:
        return await flags_of(self.host, self.port, self.user, self.password, uid,
                              mailbox=mailbox)


class Dovecot:
    """A Dovecot master process in the foreground, on free ports, in a temporary directory.

    Use it as a context manager, or call `start()` and `stop()`. Add logins with `add_user()`.
    """

    def __init__(self, tls: bool = True) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="dovecot-"))
        self.host = HOST
        self.port = free_port()
        self.tls_port = free_port()
        self.tls = tls and shutil.which("openssl") is not None
        self.cafile: Path | None = self.dir / "cert.pem" if self.tls else None
        self.startup_s = 0.0
        self.mail_uid, self.mail_gid = os.getuid(), os.getgid()
        self.password = secrets.token_urlsafe(12)
        self._proc: subprocess.Popen[bytes] | None = None
        self._users = 0

    def __repr__(self) -> str:
        running = self._proc is not None and self._proc.poll() is None
        return (f"Dovecot({self.host}:{self.port}, tls_port={self.tls_port if self.tls else None},"
                f" users={self._users}, running={running}, dir={str(self.dir)!r})")

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def conf(self) -> Path:
        return self.dir / "dovecot.conf"

    def log_text(self) -> str:
        path = self.dir / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def add_user(self) -> MailUser:
        """A new login, unknown to the server until it first logs in: its mailboxes are empty."""
        self._users += 1
        return MailUser(self.host, self.port, f"u{self._users}x{secrets.token_hex(3)}",
                        self.password, self.tls_port if self.tls else None, self.cafile)

    def kick(self, user: str) -> None:
        """Disconnect every IMAP session of `user`, as a server restart would."""
        doveadm = shutil.which("doveadm", path=SEARCH_PATH) or "doveadm"
        subprocess.run([doveadm, "-c", str(self.conf), "kick", user],
                       check=True, capture_output=True)

    def start(self, timeout_s: float = 10.0) -> Dovecot:
        """Write the config, run `dovecot -F` and wait for its greeting on `port`."""
        started = time.monotonic()
        try:
            binary = find_dovecot()
            if binary is None:
                raise RuntimeError("dovecot is not installed (apt-get install dovecot-imapd)")
            self._write_config()
            with open(self.dir / "stdout.log", "wb") as out:
                self._proc = subprocess.Popen([binary, "-F", "-c", str(self.conf)],
                                              stdout=out, stderr=subprocess.STDOUT)
            self._wait_ready(started + timeout_s)
        except BaseException:
            self.stop()  # an orphaned master would keep the ports and the directory
            raise
        self.startup_s = time.monotonic() - started
        return self

    def stop(self) -> None:
        """Stop the master (it takes its children along) and remove the directory."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _wait_ready(self, deadline: float) -> None:
        assert self._proc is not None
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"dovecot exited ({self._proc.returncode}):\n"
                                   f"{(self.dir / 'stdout.log').read_text()}{self.log_text()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"dovecot did not greet on port {self.port}:\n"
                                   f"{self.log_text()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    s.settimeout(2)
                    if s.recv(200).startswith(b"* OK"):
                        return
            except OSError:
                pass
            time.sleep(0.01)

    def _write_config(self) -> None:
        d = self.dir
        for sub in ("run", "state", "mail", "home"):
            (d / sub).mkdir(exist_ok=True)
        if os.getuid() == 0:
            # imap-login refuses to run as root and mail processes may never be root, so the
            # Debian package's unprivileged users serve; the mail belongs to nobody.
            internal_user, internal_group, login_user = "dovecot", "dovecot", "dovenull"
            nobody = pwd.getpwnam("nobody")
            self.mail_uid, self.mail_gid = nobody.pw_uid, nobody.pw_gid
            nonroot_extra = ""
            # mkdtemp makes 0700; the auth (dovecot) and imap (nobody) processes must enter.
            d.chmod(0o755)
            for sub in ("mail", "home"):
                os.chown(d / sub, self.mail_uid, self.mail_gid)
        else:
            me = pwd.getpwuid(os.getuid())
            internal_user = login_user = me.pw_name
            internal_group = grp.getgrgid(os.getgid()).gr_name
            nonroot_extra = NONROOT_EXTRA
        ssl = "ssl = no"
        if self.tls:
            self._make_certificate()
            ssl = f"ssl = yes\nssl_cert = <{d}/cert.pem\nssl_key = <{d}/key.pem"
        self.conf.write_text(CONF_TEMPLATE.format(
            d=d, host=self.host, port=self.port, tls_port=self.tls_port if self.tls else 0,
            internal_user=internal_user, internal_group=internal_group, login_user=login_user,
            uid=self.mail_uid, gid=self.mail_gid, nonroot_extra=nonroot_extra, ssl=ssl,
            password=self.password,
        ))

    def _make_certificate(self) -> None:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "2", "-subj", f"/CN={self.host}",
             "-addext", f"subjectAltName=IP:{self.host},DNS:localhost",
             "-keyout", str(self.dir / "key.pem"), "-out", str(self.dir / "cert.pem")],
            check=True, capture_output=True,
        )


@asynccontextmanager
async def imap_session(host: str, port: int, user: str, password: str
                       ) -> AsyncIterator[IMAP4]:
    """A logged-in aioimaplib connection that is logged out and closed on the way out."""
    lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_lost(exc: Exception | None) -> None:
        if not lost.done():
            lost.set_result(None)

    imap = IMAP4(host, port, timeout=IMAP_TIMEOUT_S, conn_lost_cb=on_lost)
    try:
        await imap.wait_hello_from_server()
        _check(await imap.login(user, password), "LOGIN")
        yield imap
        await imap.logout()
    finally:
        transport = imap.protocol.transport
        if transport is not None:
            transport.close()
            # The socket is closed only when connection_lost has run; a test loop that
            # ends before that reports an unclosed transport.
            await asyncio.wait_for(lost, IMAP_TIMEOUT_S)


async def append(host: str, port: int, user: str, password: str, raw: bytes,
                 mailbox: str = "INBOX", flags: Iterable[str] = ()) -> int:
    """Put `raw` into `mailbox` with IMAP APPEND, creating the mailbox if missing.

    Returns the new message's UID (from APPENDUID).
    """
    flag_list = f"({' '.join(flags)})" if flags else None
    async with imap_session(host, port, user, password) as imap:
        response = await imap.append(raw, mailbox=quoted(mailbox), flags=flag_list)
        if response.result == "NO" and b"[TRYCREATE]" in b" ".join(_lines(response)):
            _check(await imap.create(quoted(mailbox)), "CREATE")
            response = await imap.append(raw, mailbox=quoted(mailbox), flags=flag_list)
        _check(response, "APPEND")
        for line in _lines(response):
            found = re.search(rb"\[APPENDUID \d+ (\d+)\]", line)
            if found:
                return int(found.group(1))
    raise AssertionError(f"APPEND gave no APPENDUID: {response}")


async def list_uids(host: str, port: int, user: str, password: str,
                    mailbox: str = "INBOX", criteria: str = "ALL") -> list[int]:
    """The UIDs in `mailbox` that match the SEARCH `criteria`, ascending."""
    async with imap_session(host, port, user, password) as imap:
        _check(await imap.select(quoted(mailbox)), "SELECT")
        response = _check(await imap.uid_search(criteria, charset=None), "UID SEARCH")
    return sorted(int(n) for line in _lines(response)[:-1] for n in line.split() if n.isdigit())


async def flags_of(host: str, port: int, user: str, password: str, uid: int,
                   mailbox: str = "INBOX") -> frozenset[str]:
    """The flags of message `uid` in `mailbox`; LookupError when there is no such message."""
    async with imap_session(host, port, user, password) as imap:
        _check(await imap.select(quoted(mailbox)), "SELECT")
        response = _check(await imap.uid("fetch", str(uid), "(FLAGS)"), "UID FETCH")
    for line in _lines(response):
        if re.search(rb"\bUID %d\b" % uid, line):
            found = re.search(rb"FLAGS \(([^)]*)\)", line)
            if found:
                return frozenset(found.group(1).decode().split())
    raise LookupError(f"no message with UID {uid} in {mailbox}")


def _lines(response: Response) -> list[bytes]:
    return [bytes(line) for line in response.lines]


def _check(response: Response, command: str) -> Response:
    if response.result != "OK":
        raise AssertionError(f"{command} failed: {response.result} {_lines(response)}")
    return response
