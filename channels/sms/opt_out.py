"""Opt-out keywords: a passenger who texts STOP (LOPETA) gets no more SMS from the hub.

The message is stored like any other, marked `sms_opt: out` (or `in` for START / ALOITA);
ingest records the number's choice in the same transaction, and the reply composer refuses
to text a number that opted out.
"""

from __future__ import annotations

import dataclasses
import re

from hub.model import InboundContact
from hub.settings import SmsSettings

OPT_DETAIL = "sms_opt"
_PUNCTUATION = re.compile(r"[\s.!,;:]+")


def keyword_of(body: str) -> str:
    """The message as a keyword: one word, any case, trailing punctuation ignored."""
    return _PUNCTUATION.sub(" ", body).strip().upper()


def mark_keywords(contact: InboundContact, sms: SmsSettings) -> InboundContact:
    word = keyword_of(contact.body)
    if word in {k.upper() for k in sms.opt_out_keywords}:
        choice = "out"
    elif word in {k.upper() for k in sms.opt_in_keywords}:
        choice = "in"
    else:
        return contact
    return dataclasses.replace(contact, details={**contact.details, OPT_DETAIL: choice,
                                                 "sms_keyword": word})
