"""Turn the hub's exceptions into HTTP answers with a reason, and never leak a traceback."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping

from aiohttp import web
from sqlalchemy.exc import TimeoutError as PoolTimeout

from hub.appkeys import SETTINGS
from hub.errors import (
    AnnouncementOnly,
    BadInput,
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


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except TooLarge as exc:
        return _json(413, {"error": exc.reason})
    except BadInput as exc:
        body: dict[str, object] = {"error": exc.reason}
        if exc.field_errors:
            body["fields"] = exc.field_errors
        return _json(422 if exc.field_errors else 400, body)
    except Conflict as exc:
        return _json(409, {"error": exc.reason, **exc.detail})
    except NotFound as exc:
        return _json(404, {"error": str(exc) or "not found"})
    except Forbidden as exc:
        return _json(403, {"error": str(exc) or "forbidden"})
    except AnnouncementOnly as exc:
        # A success: the gateway must not retry what the notice has already answered.
        # "sv" is what a Swedish speaker is told: the Finnish text when there is no Swedish.
        notice = exc.notice
        return _json(200, {"status": "announced", "notice": {
            "fi": notice.text_fi, "sv": notice.text("sv"), "en": notice.text_en}})
    except RetryLater as exc:
        return _json(503, {"error": exc.reason}, {"Retry-After": str(exc.retry_after_s)})
    except PoolTimeout:  # every database connection busy for POOL_TIMEOUT_S: fail fast
        return _json(503, {"error": "the hub is busy; try again"}, {"Retry-After": "1"})
    except web.HTTPRequestEntityTooLarge:
        # aiohttp puts the limit in its message only, not on the exception.
        limit = request.app[SETTINGS].http.max_body_bytes
        return _json(413, {"error": f"the body is over the limit of {limit} bytes"})
    except web.HTTPException as exc:
        if (exc.status >= 400 and request.path.startswith(JSON_ERROR_PREFIXES)
                and exc.content_type != "application/json"):
            # aiohttp's own refusals (no such route, method, media type) in the API's one
            # error body, as the OpenAPI documents them, not as text/plain.
            own_words = exc.text and not exc.text.startswith(f"{exc.status}:")
            headers = {k: v for k, v in exc.headers.items()
                       if k.lower() not in ("content-type", "content-length")}
            return _json(exc.status, {"error": exc.text if own_words else exc.reason.lower()},
                         headers)
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _json(500, {"error": "internal error; it has been logged"})


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
