"""Turn the hub's exceptions into HTTP answers with a reason, and never leak a traceback."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping

from aiohttp import web
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


def _json(status: int, body: dict[str, object], headers: dict[str, str] | None = None
          ) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


def _body(exc: CodedError) -> dict[str, object]:
    return {"error": exc.reason, "code": exc.code.value, "params": exc.params}


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
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _json(500, answer(ErrorCode.INTERNAL.of()))


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
