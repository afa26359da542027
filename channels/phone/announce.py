"""Service notices on the phone: what a call is told before anyone answers.

An inbound call's first event gets the active phone notice, once per passenger, in each
language it is written in: a caller's language is not known, so a Finnish or local number
hears Finnish, Swedish, then English (as a bilingual Finnish company announces), a Swedish
number Swedish first, any other English first. A notice without a Swedish text is not read
in Finnish by the Swedish voice: Swedish is left out. In **announcement-only** mode the call is
answered with the notice and hung up, and nothing about it is stored: not the call, not the
number, not a request; events of calls the hub does not know are dropped while such a
notice is active (calls already in progress when it was published go on being recorded).
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from channels.base import HubServices
from hub.call_events import CallDirection, CallEvent, CallKind
from hub.calls import CallStore
from hub.model import Channel, Notice

# The <Say language> codes Twilio speaks.
TWILIO_VOICES = {"fi": "fi-FI", "sv": "sv-SE", "en": "en-GB"}


@dataclass(frozen=True, slots=True)
class Announcement:
    notice: Notice
    languages: tuple[str, ...]
    hang_up: bool  # announcement-only: nothing was stored, the call ends after the notice

    def texts(self) -> list[tuple[str, str]]:
        return [(language, self.notice.text(language)) for language in self.languages
                if language != "sv" or self.notice.text_sv]


def languages_for(number: str) -> tuple[str, ...]:
    """The order to speak the notice in, by the caller's number (a national one is local)."""
    if number.startswith("+358") or not number.startswith("+"):
        return ("fi", "sv", "en")
    if number.startswith("+46"):
        return ("sv", "fi", "en")
    return ("en", "fi", "sv")


async def announce_only(services: HubServices, store: CallStore,
                        event: CallEvent) -> Announcement | None:
    """Before storing anything: an announcement-only notice covers this inbound call (the
    store itself keeps such a call out, whichever adapter hands it in; this is what the
    adapter answers the PBX)."""
    notice = await store.silencing(event)
    if notice is None:
        return None
    return Announcement(notice, languages_for(event.caller), hang_up=True)


async def greeting(services: HubServices, store: CallStore,
                   event: CallEvent) -> Announcement | None:
    """After storing a new inbound call: the notice for this passenger, if they have not
    had it."""
    if event.direction is not CallDirection.IN or event.kind is not CallKind.NEW:
        return None
    call = await store.find(event.provider, event.call_key)
    if call is None:
        return None
    notice = await services.notice(Channel.PHONE, call.request_id)
    if notice is None:
        return None
    return Announcement(notice, languages_for(event.caller), hang_up=False)


def twiml(announcement: Announcement | None, flow_url: str = "") -> str:
    """The Voice URL's answer: the notice spoken in each language, then the company's own
    call flow (a <Redirect>), or the end of the call in announcement-only mode."""
    parts = []
    if announcement is not None:
        parts = [f"<Say language={quoteattr(TWILIO_VOICES[lang])}>{escape(text)}</Say>"
                 for lang, text in announcement.texts()]
        if announcement.hang_up:
            parts.append("<Hangup/>")
    if flow_url and not (announcement is not None and announcement.hang_up):
        parts.append(f'<Redirect method="POST">{escape(flow_url)}</Redirect>')
    inner = "".join(parts)
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            + (f"<Response>{inner}</Response>" if inner else "<Response />"))


def cti_answer(announcement: Announcement | None) -> dict[str, object]:
    """The generic CTI webhook's answer (docs/generic-cti.md): `{}`, or the notice for the
    PBX to play or speak, and whether to hang up after it."""
    if announcement is None:
        return {}
    return {"action": "announce", "notice_id": str(announcement.notice.id),
            "texts": [{"language": lang, "text": text} for lang, text in announcement.texts()],
            "hangup": announcement.hang_up}
