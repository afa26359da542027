"""The words of a closed chat's transcript, sent to the passenger by email when they ask for
it (hub.chat_transcripts keeps and queues it)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from zoneinfo import ZoneInfo

from hub.chat_conversations import Line

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")

WORDS = {
    "fi": {"subject": "Taksikeskustelusi {reference}", "you": "Sinä",
           "dispatcher": "Välittäjä",
           "intro": "Tässä keskustelusi taksivälityksen kanssa (viite {reference})."},
    "en": {"subject": "Your taxi chat {reference}", "you": "You", "dispatcher": "Dispatcher",
           "intro": "Here is your chat with the taxi dispatch centre (reference {reference})."},
}


def valid_email(text: str) -> bool:
    return EMAIL.match(text) is not None


def transcript_text(lines: Sequence[Line], *, reference: str, lang: str,
                    timezone: str) -> str:
    words = WORDS.get(lang, WORDS["fi"])
    zone = ZoneInfo(timezone)
    out = [words["intro"].format(reference=reference), ""]
    for line in lines:
        who = words["you"] if line.author == "passenger" else (line.agent
                                                               or words["dispatcher"])
        out.append(f"[{line.at.astimezone(zone):%d.%m. %H:%M}] {who}: {line.text}")
    return "\n".join(out) + "\n"


def transcript_email(lines: Sequence[Line], *, lang: str,
                     timezone: str) -> Callable[[str], tuple[str, str]]:
    """The transcript email's (subject, body), once its request's reference is known."""
    words = WORDS.get(lang, WORDS["fi"])

    def compose(reference: str) -> tuple[str, str]:
        return (words["subject"].format(reference=reference),
                transcript_text(lines, reference=reference, lang=lang, timezone=timezone))

    return compose
