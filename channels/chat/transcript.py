"""The words of a closed chat's transcript, sent to the passenger by email when they ask for
it (hub.chat_transcripts keeps and queues it)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from zoneinfo import ZoneInfo

from hub import catalogue
from hub.chat_conversations import Line

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def valid_email(text: str) -> bool:
    return EMAIL.match(text) is not None


def transcript_text(lines: Sequence[Line], *, reference: str, lang: str,
                    timezone: str) -> str:
    lang = catalogue.supported(lang)
    zone = ZoneInfo(timezone)
    out = [catalogue.text(lang, "transcript.intro", reference=reference), ""]
    for line in lines:
        who = (catalogue.text(lang, "transcript.you") if line.author == "passenger"
               else line.agent or catalogue.text(lang, "transcript.dispatcher"))
        out.append(f"[{line.at.astimezone(zone):%d.%m. %H:%M}] {who}: {line.text}")
    return "\n".join(out) + "\n"


def transcript_email(lines: Sequence[Line], *, lang: str,
                     timezone: str) -> Callable[[str], tuple[str, str]]:
    """The transcript email's (subject, body), once its request's reference is known."""
    lang = catalogue.supported(lang)

    def compose(reference: str) -> tuple[str, str]:
        return (catalogue.text(lang, "transcript.subject", reference=reference),
                transcript_text(lines, reference=reference, lang=lang, timezone=timezone))

    return compose
