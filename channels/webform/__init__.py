"""The web form channel: the hosted taxi-order form and its JSON twin.

    GET  /form                     the hosted form (Finnish, Swedish or English)
    POST /form                     form-encoded submission, answered with a page
    POST /api/v1/contact-requests  JSON submission, answered with JSON

A submission token (hidden in the hosted form; `submission_token` or the `Idempotency-Key`
header in JSON) makes a resubmission return the same request instead of a second one.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import parse_qsl

from aiohttp import web

from channels.base import HubServices
from channels.webform.language import pick_language
from channels.webform.page import (
    UrgentPhone,
    announced_page,
    busy_page,
    form_page,
    thanks_page,
    too_many_page,
)
from channels.webform.parser import REASONS, parse_order
from hub.address_gate import AddressGate
from hub.appkeys import TRUSTED_PROXIES
from hub.catalogue import supported
from hub.client_address import client_address
from hub.clock import utcnow
from hub.error_codes import ErrorCode
from hub.errors import AnnouncementOnly, BadInput, RetryLater
from hub.model import Channel, InboundContact, IngestResult
from hub.request_body import read_json_object, receive_body

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class WebFormChannel:
    name: ClassVar[str] = "webform"
    channel: ClassVar[Channel] = Channel.WEBFORM
    max_body_chars: ClassVar[int] = 4000
    can_reply: ClassVar[bool] = False  # answered over the passenger's phone or email

    def __init__(self) -> None:
        self._services: HubServices | None = None
        self._gate = AddressGate(0, 60.0)
        self._urgent: UrgentPhone | None = None

    def __repr__(self) -> str:
        return f"<WebFormChannel started={self._services is not None}>"

    async def start(self, services: HubServices) -> None:
        self._services = services
        self._gate = AddressGate(services.settings.ingest.form_posts_per_address_per_minute,
                                 60.0)
        self._urgent = UrgentPhone.of(services.settings.company.urgent_phone,
                                      services.settings.phone.default_region)

    async def stop(self) -> None:
        self._services = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/form", self.show_form),
            web.post("/form", self.post_form),
            web.post("/api/v1/contact-requests", self.post_json),
        ]

    @property
    def services(self) -> HubServices:
        if self._services is None:
            raise RetryLater(ErrorCode.HUB_STARTING)
        return self._services

    def _parse(self, fields: dict[str, Any]) -> InboundContact:
        settings = self.services.settings
        return parse_order(fields, default_region=settings.phone.default_region,
                           timezone=settings.timezone, now=utcnow())

    def _language(self, request: web.Request, chosen: str | None = None) -> str:
        return pick_language(chosen or request.query.get("lang"),
                             request.headers.get("Accept-Language", ""),
                             self.services.settings.console.default_language)

    async def show_form(self, request: web.Request) -> web.Response:
        return _html(form_page(self._language(request), urgent=self._urgent))

    def _wait_s(self, request: web.Request) -> int:
        return self._gate.wait_s(client_address(request, request.app[TRUSTED_PROXIES]))

    async def post_form(self, request: web.Request) -> web.Response:
        if wait_s := self._wait_s(request):
            return web.Response(body=too_many_page(self._language(request), self._urgent),
                                status=429,
                                content_type="text/html", charset="utf-8",
                                headers={"Retry-After": str(wait_s)})
        if request.content_type not in FORM_TYPES:
            raise web.HTTPUnsupportedMediaType(text="send the form as "
                                               "application/x-www-form-urlencoded")
        await _read_body(request)
        try:
            with self.services.ingestor.admission():
                fields = await _form_fields(request)
                lang = self._language(request, fields.get("language"))
                try:
                    result = await self.services.ingest(self._parse(fields))
                except BadInput as exc:
                    return _html(form_page(lang, values=fields, errors=exc.field_errors,
                                           urgent=self._urgent), status=422)
                except AnnouncementOnly as exc:
                    return _html(announced_page(lang, exc.notice.text(lang), self._urgent))
        except RetryLater as exc:
            # A ready page: the browser's Back button still holds the passenger's answers.
            return web.Response(body=busy_page(self._language(request), self._urgent),
                                status=503,
                                content_type="text/html", charset="utf-8",
                                headers={"Retry-After": str(exc.retry_after_s)})
        notice, answer = await self._answers(result, fields.get("name"), lang)
        return _html(thanks_page(lang, result.reference, notice, answer), status=201)

    async def post_json(self, request: web.Request) -> web.Response:
        if wait_s := self._wait_s(request):
            return web.json_response(
                {"error": "too many orders from this address; try again later"}, status=429,
                headers={"Retry-After": str(wait_s)})
        await _read_body(request)
        with self.services.ingestor.admission():  # before any parsing: overload answers fast
            data = await read_json_object(request)
            header_key = request.headers.get("Idempotency-Key")
            if header_key and "submission_token" not in data:
                data["submission_token"] = header_key
            try:
                result = await self.services.ingest(self._parse(data))
            except BadInput as exc:
                fields = {f: {"code": c, "reason": REASONS.get(c, c)}
                          for f, c in exc.field_errors.items()}
                return web.json_response({"error": exc.reason, "code": exc.code.value,
                                          "params": exc.params, "fields": fields}, status=422)
            except AnnouncementOnly as exc:  # nothing kept: no reference to give
                lang = supported(str(data.get("language") or "fi"))
                return web.json_response({"status": "announced", "reference": None,
                                          "notice": exc.notice.text(lang), "answer": None})
        receipt = _receipt(result)
        receipt["notice"], receipt["answer"] = await self._answers(
            result, _text(data.get("name")), str(data.get("language") or "fi"))
        return web.json_response(receipt, status=200 if result.duplicate else 201)

    async def _answers(self, result: IngestResult, name: str | None,
                       lang: str) -> tuple[str | None, str | None]:
        """The service notice (once per passenger: ingest recorded it as given with the
        contact) and the new request's acknowledgement or out-of-hours answer, for the
        confirmation; a resubmission gets neither again."""
        if result.duplicate:
            return None, None
        lang = supported(lang)
        answer = await self.services.first_answer(Channel.WEBFORM, result, name, lang)
        return (result.notice.text(lang) if result.notice is not None else None), answer


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


async def _read_body(request: web.Request) -> None:
    if not request.content_type.startswith("multipart/"):  # that one reads as it parses
        await receive_body(request)


async def _form_fields(request: web.Request) -> dict[str, str]:
    """The posted text fields. URL-encoded bodies are decoded strictly: aiohttp's `post()`
    turns percent-encoded bytes that are not valid in the charset into U+FFFD, storing
    mojibake instead of refusing it."""
    charset = request.charset or "utf-8"
    try:
        if request.content_type == "application/x-www-form-urlencoded":
            text = (await request.read()).decode(charset).rstrip()
            return dict(parse_qsl(text, keep_blank_values=True, encoding=charset,
                                  errors="strict"))
        posted = await request.post()
    except (UnicodeDecodeError, LookupError) as exc:
        raise BadInput(ErrorCode.FORM_CHARSET_INVALID.of(charset=charset)) from exc
    except (ValueError, web.HTTPException) as exc:  # no boundary, a part cut short
        raise BadInput(ErrorCode.FORM_UNREADABLE) from exc
    return {k: v for k, v in posted.items() if isinstance(v, str)}


def _receipt(result: IngestResult) -> dict[str, Any]:
    return {
        "id": str(result.request_id),
        "reference": result.reference,
        "message_id": str(result.message_id),
        "new_request": result.new_request,
        "duplicate": result.duplicate,
    }


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")
