"""Pure parsing of Twilio's inbound-message webhook into an InboundContact."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from hub.errors import BadInput
from hub.model import Channel, InboundContact
from hub.phone import to_e164
from hub.text import is_storable

MAX_BODY_CHARS = 1600  # Twilio's own limit for one inbound message
MAX_MEDIA = 10


def parse_inbound(form: Mapping[str, str], *, default_region: str,
                  now: datetime) -> InboundContact:
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or ""
    if not sid or len(sid) > 64:
        raise BadInput("MessageSid is missing", {"MessageSid": "required"})
    sender = form.get("From", "")
    if not sender:
        raise BadInput("From is missing", {"From": "required"})
    body = form.get("Body", "")
    if len(body) > MAX_BODY_CHARS or not is_storable(body):
        raise BadInput("Body is too long or not storable", {"Body": "invalid"})
    phone = to_e164(sender.removeprefix("whatsapp:"), default_region)
    details: dict[str, str] = {"gateway": "twilio", "from": phone}
    if form.get("To"):
        details["to"] = form["To"]
    if form.get("NumSegments"):
        details["segments"] = form["NumSegments"]
    try:
        media_count = min(int(form.get("NumMedia", "0") or 0), MAX_MEDIA)
    except ValueError as exc:
        raise BadInput("NumMedia is not a number", {"NumMedia": "invalid"}) from exc
    for n in range(media_count):
        if form.get(f"MediaUrl{n}"):
            details[f"media_url_{n}"] = form[f"MediaUrl{n}"]
            details[f"media_type_{n}"] = form.get(f"MediaContentType{n}", "")
    return InboundContact(channel=Channel.SMS, idempotency_key=sid, received_at=now,
                          body=body, phone=phone, details=details)
