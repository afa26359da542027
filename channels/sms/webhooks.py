"""What the SMS gateways' webhooks share: reading a form body, refusing a call with a JSON
error, and matching a delivery report to the send it reports on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from urllib.parse import parse_qsl

from aiohttp import web

from hub.deliveries import Deliveries
from hub.errors import BadInput
from hub.language import read_language
from hub.model import DeliveryUpdate, Notice

FORM_TYPE = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"


def form_pairs(raw: bytes) -> list[tuple[str, str]]:
    """A form-encoded body's fields, in order (blank ones kept); BadInput if not UTF-8."""
    try:
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError as exc:
        raise BadInput("the body is not valid UTF-8") from exc


def forbidden(error: str) -> web.HTTPForbidden:
    """403 for a call whose signature is missing, wrong or old."""
    return web.HTTPForbidden(text=json.dumps({"error": error}), content_type=JSON_TYPE)


def unsupported_media(error: str) -> web.HTTPUnsupportedMediaType:
    """415 for a body in a content type the webhook does not read."""
    return web.HTTPUnsupportedMediaType(text=json.dumps({"error": error}),
                                        content_type=JSON_TYPE)


async def report_when_known(deliveries: Deliveries, adapter: str, update: DeliveryUpdate,
                            waits: Sequence[float]) -> bool:
    """Apply a delivery report, asking again after each of `waits` while no delivery has
    its id: a report can overtake the commit of the send it reports on. False when none
    ever had it."""
    for wait in (0.0, *waits):
        await asyncio.sleep(wait)
        if await deliveries.report(adapter, update):
            return True
    return False


def announcement(notice: Notice, phone: str | None, text: str) -> str:
    """An announcement-only notice as one SMS answer: in the language the sender's text reads
    as (Swedish gets the Finnish text when the notice has no Swedish one); when it gives no
    clue, Finnish and English, Finnish first for a Finnish number."""
    language = read_language(text)
    if language is not None:
        return notice.text(language)
    first, second = ("fi", "en") if (phone or "").startswith("+358") else ("en", "fi")
    return f"{notice.text(first)}\n\n{notice.text(second)}"
