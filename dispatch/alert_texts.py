"""The on-call group's message of a channel alert, from the pages' catalogue
(hub/catalogue/console/<lang>.json, keys `oncall.*`).

The group's members are staff, who read the staff pages' languages (hub.catalogue.pages):
a member has no language on record, so the message carries each of them, Finnish first,
one per line, and every member reads their own. It names the adapter, the kind and the time
it began, nothing else: an alert is about a channel, never about a passenger, so no
number, address or message text can reach the on-call phones or mailboxes through it.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from hub.catalogue import pages
from hub.channel_alerts import Alert


def _word(language: str, key: str) -> str:
    return str(pages.entries(language)[key])


def _since(alert: Alert, language: str, timezone: str) -> str:
    local = alert.since.astimezone(ZoneInfo(timezone))
    return format_datetime(local, _word(language, "oncall.time_pattern"), locale=language)


def oncall_body(alert: Alert, *, raised: bool, timezone: str) -> str:
    key = f"oncall.{alert.kind.value}_{'raised' if raised else 'cleared'}"
    return "\n".join(
        _word(language, key).format(adapter=alert.adapter,
                                    since=_since(alert, language, timezone))
        for language in pages.LANGUAGES)


def oncall_subject(alert: Alert, *, raised: bool) -> str:
    """The email's subject line: short, every language's in one line."""
    key = "oncall.subject_raised" if raised else "oncall.subject_cleared"
    return " / ".join(_word(language, key).format(adapter=alert.adapter)
                      for language in pages.LANGUAGES)
