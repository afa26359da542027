"""Turn the hub's exceptions into HTTP answers with a reason, and never leak a traceback."""

from __future__ import annotations

import logging
import sqlite3
import time
import traceback
import weakref
from collections.abc import Awaitable, Callable, MutableMapping

from aiohttp import web
from redis.exceptions import ClusterDownError, ReadOnlyError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from hub.appkeys import SETTINGS
from hub.error_codes import ErrorCode, answer
from hub.errors import (
    AnnouncementOnly,
    BadInput,
    CodedError,
    Conflict,
    Forbidden,
    NotFound,
    RetryLater,
    TooLarge,
)

log = logging.getLogger(__name__)

# The pages load nothing from elsewhere and run no inline code: passenger text that slipped
# into markup could not run.
CONSOLE_POLICY = ("default-src 'self'; object-src 'none'; base-uri 'none'; "
                  "frame-ancestors 'none'; form-action 'self'")
FORM_POLICY = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Paths machines call: every error answer there is the JSON error body.
JSON_ERROR_PREFIXES = ("/api/", "/webhooks/", "/chat/")
STORE_RETRY_AFTER_S = 5  # as ingest tells a form whose database is away
OUTAGE_LOG_EVERY_S = 60.0  # an outage is logged when first met, then once a minute at most

# A store that cannot be reached, not a fault of the hub's own: Redis's lost connections and
# timeouts (a Sentinel that names no master, a cluster without its slots, a replica that was
# the master a moment ago), and the database's lost connections. A wrong statement, a
# constraint or bad data (ProgrammingError, IntegrityError, DataError) stays a 500: telling
# the caller to try again later would hide a bug behind an answer that never changes.
REDIS_OUTAGES = (RedisConnectionError, RedisTimeoutError, ClusterDownError, ReadOnlyError)
DATABASE_OUTAGES = (OperationalError, InterfaceError)
# A bare socket error is a store's when it came up through its driver (asyncpg raises a
# refused connect as it is, and SQLAlchemy passes it on unwrapped); any other (a passenger's
# connection reset, a gateway the hub calls) is not, and stays what it was.
DATABASE_DRIVERS = ("sqlalchemy", "asyncpg", "aiosqlite")
REDIS_DRIVERS = ("redis",)


def _json(status: int, body: dict[str, object], headers: dict[str, str] | None = None
          ) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


def _body(exc: CodedError) -> dict[str, object]:
    return {"error": exc.reason, "code": exc.code.value, "params": exc.params}


def store_outage(exc: BaseException) -> tuple[ErrorCode, str] | None:
    """(the code to answer with, the store) when `exc` says a store is out of reach; None
    when it is a fault of the hub's own, which stays a 500."""
    if isinstance(exc, REDIS_OUTAGES):
        return ErrorCode.STORE_UNAVAILABLE, "Redis"
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or (isinstance(exc, DATABASE_OUTAGES)
                                          and not _sqlite_mistake(exc)):
            return ErrorCode.DATABASE_UNAVAILABLE, "database"
        return None
    if isinstance(exc, OSError):
        if _raised_in(exc, DATABASE_DRIVERS):
            return ErrorCode.DATABASE_UNAVAILABLE, "database"
        if _raised_in(exc, REDIS_DRIVERS):
            return ErrorCode.STORE_UNAVAILABLE, "Redis"
    return None


def _sqlite_mistake(exc: DBAPIError) -> bool:
    """SQLite raises its OperationalError for a wrong statement too ("no such column",
    "syntax error"): a bug, which must stay a 500, not a "try again" that never changes."""
    text = str(exc.orig).lower()
    return isinstance(exc.orig, sqlite3.Error) and (
        text.startswith("no such ") or "syntax error" in text or "has no column" in text)


def _raised_in(exc: BaseException, packages: tuple[str, ...]) -> bool:
    """Whether a frame of the packages is on the way from the handler to where `exc` was
    raised."""
    return any(str(frame.f_globals.get("__name__", "")).split(".")[0] in packages
               for frame, _ in traceback.walk_tb(exc.__traceback__))


class OutageLog:
    """Says once that a store is away, not once per refused request: the first 503 of an
    outage is logged, later ones are counted and told at most every OUTAGE_LOG_EVERY_S.
    Only the store, the exception's type and the route's pattern are written: no path
    (ids), query (searches), body or message of a driver (values in a statement)."""

    def __init__(self) -> None:
        self._said_at: dict[str, float] = {}
        self._unsaid: dict[str, int] = {}

    def met(self, store: str, exc: BaseException, request: web.Request) -> None:
        now = time.monotonic()
        if now - self._said_at.get(store, float("-inf")) < OUTAGE_LOG_EVERY_S:
            self._unsaid[store] = self._unsaid.get(store, 0) + 1
            return
        self._said_at[store] = now
        since = self._unsaid.pop(store, 0)
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        log.warning("%s unavailable (%s) on %s %s: answering 503 until it is back%s",
                    store, type(cause).__name__, request.method, _route(request),
                    f"; {since} more such answers since last said" if since else "")


_outages: weakref.WeakKeyDictionary[web.Application, OutageLog] = weakref.WeakKeyDictionary()


def outage_log(app: web.Application) -> OutageLog:
    """The app's own: each hub (several run in one test process) says its outage once."""
    found = _outages.get(app)
    if found is None:
        found = _outages[app] = OutageLog()
    return found


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(no route)"


# aiohttp's own refusals by status, in aiohttp's words; any other is generic.
HTTP_CODES = {401: ErrorCode.UNAUTHORIZED, 403: ErrorCode.FORBIDDEN, 404: ErrorCode.NOT_FOUND,
              405: ErrorCode.METHOD_NOT_ALLOWED, 415: ErrorCode.UNSUPPORTED_MEDIA_TYPE}


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except TooLarge as exc:
        return _json(413, _body(exc))
    except BadInput as exc:
        body = _body(exc)
        if exc.field_errors:
            body["fields"] = exc.field_errors
        return _json(422 if exc.field_errors else 400, body)
    except Conflict as exc:
        return _json(409, {**exc.detail, **_body(exc)})
    except NotFound as exc:
        return _json(404, _body(exc))
    except Forbidden as exc:
        return _json(403, _body(exc))
    except AnnouncementOnly as exc:
        # A success: the gateway must not retry what the notice has already answered.
        # "sv" is what a Swedish speaker is told: the Finnish text when there is no Swedish.
        notice = exc.notice
        return _json(200, {"status": "announced", "notice": {
            "fi": notice.text_fi, "sv": notice.text("sv"), "en": notice.text_en}})
    except RetryLater as exc:
        return _json(503, _body(exc), {"Retry-After": str(exc.retry_after_s)})
    except PoolTimeout:  # every database connection busy for POOL_TIMEOUT_S: fail fast
        return _json(503, answer(ErrorCode.HUB_BUSY.of()), {"Retry-After": "1"})
    except web.HTTPRequestEntityTooLarge:
        # aiohttp puts the limit in its message only, not on the exception.
        limit = request.app[SETTINGS].http.max_body_bytes
        return _json(413, answer(ErrorCode.BODY_TOO_LARGE.of(max=limit)))
    except web.HTTPException as exc:
        if (exc.status >= 400 and request.path.startswith(JSON_ERROR_PREFIXES)
                and exc.content_type != "application/json"):
            # aiohttp's own refusals (no such route, method, media type) in the API's one
            # error body, as the OpenAPI documents them, not as text/plain.
            own_words = exc.text and not exc.text.startswith(f"{exc.status}:")
            headers = {k: v for k, v in exc.headers.items()
                       if k.lower() not in ("content-type", "content-length")}
            reason = exc.text if own_words else exc.reason.lower()
            code = HTTP_CODES.get(exc.status, ErrorCode.BAD_INPUT if exc.status < 500
                                  else ErrorCode.INTERNAL)
            return _json(exc.status, {"error": reason or "", "code": code.value, "params": {}},
                         headers)
        raise
    except Exception as exc:
        outage = store_outage(exc)
        if outage is None:
            log.exception("unhandled error on %s %s", request.method, _route(request))
            return _json(500, answer(ErrorCode.INTERNAL.of()))
        code, store = outage
        outage_log(request.app).met(store, exc, request)
        return _json(503, answer(code.of()), {"Retry-After": str(STORE_RETRY_AFTER_S)})


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # a 401, 404 or 405 aiohttp raises: the same headers
        _add_security_headers(request, exc.headers)
        raise
    _add_security_headers(request, response.headers)
    return response


def _add_security_headers(request: web.Request, headers: MutableMapping[str, str]) -> None:
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if request.path.startswith(("/console", "/api/")):
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Cache-Control", "no-store")
    if request.path.startswith("/console"):
        headers.setdefault("Content-Security-Policy", CONSOLE_POLICY)
    elif request.path.startswith("/form"):
        # The taxi company may put the form on its own site in a frame, as it does the chat
        # widget: the sites allowed to embed the widget may frame it, nobody else.
        embedders = " ".join(request.app[SETTINGS].chat.allowed_origins)
        headers.setdefault("Content-Security-Policy",
                           f"{FORM_POLICY}; frame-ancestors 'self' {embedders}".rstrip())
    elif request.path.startswith("/static/"):
        # Revalidate on every load, so that after an upgrade no browser runs an old script
        # against the new page.
        headers.setdefault("Cache-Control", "no-cache")
