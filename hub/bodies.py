"""The JSON bodies the API answers with, typed: the OpenAPI's component schemas of the core's
requests, agents, receipts and errors are generated from these (`hub.openapi`), and
tests/hub/test_openapi.py checks real answers against them.

The records inside them (`hub.records`) are the same ones the console events carry.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from hub.error_codes import ErrorCode
from hub.records import Me, Notice, Presence, RequestDetail, RequestSummary, Viewer


class _Body(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class Error(msgspec.Struct, kw_only=True):
    """Every error answer: the reason in English, and for bad input field -> what is wrong
    with it (a code: required, invalid, too_long, ...). `code` and `params` say the reason
    again for a program and a translation: the page shows the catalogue's `error.<code>`
    text in the user's language with the params filled in (hub.error_codes)."""

    error: str
    code: ErrorCode | msgspec.UnsetType = msgspec.UNSET
    params: dict[str, str | int | float] | msgspec.UnsetType = msgspec.UNSET
    fields: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class Conflict(Error, kw_only=True):
    """409: the reason, and what the hub knows of the state that won (status, held_by, the
    request's summary, merged_into...), as the conflict has it."""


class RequestList(_Body, kw_only=True):
    requests: list[RequestSummary]
    next_cursor: str | None  # given back as cursor, with the same filters: the next page
    next: str | None  # that page's URL


class RequestResult(_Body, kw_only=True):
    request: RequestDetail


class ActionResult(_Body, kw_only=True):
    request: RequestSummary
    changed: bool  # false: it was so already (a repeated action)


class ReplyResult(_Body, kw_only=True):
    request: RequestSummary
    message_id: str
    changed: bool  # false: this client_key was already sent


class AgentResult(_Body, kw_only=True):
    agent: Me


class Receipt(_Body, kw_only=True):
    """A stored contact request (or a retry of one: duplicate)."""

    id: str
    reference: str
    message_id: str
    new_request: bool
    duplicate: bool
    # For the confirmation: the service notice in force (once per passenger) and the
    # acknowledgement or out-of-hours answer; a resubmission gets neither again.
    notice: str | None
    answer: str | None


class AgentName(_Body, kw_only=True):
    id: str
    name: str
    role: str


class AgentList(_Body, kw_only=True):
    agents: list[AgentName]


class PresenceList(_Body, kw_only=True):
    agents: list[Presence]


class PresenceResult(_Body, kw_only=True):
    presence: Presence
    handed_back: list[str]  # the request ids given back to the queue


class Ok(_Body, kw_only=True):
    ok: bool


class CallbackOutcomeResult(_Body, kw_only=True):
    request: RequestSummary
    outcome: str


class CallNow(_Body, kw_only=True):
    """Calling back: through the PBX (202, `action_id`) or a tel: link (200, `tel`)."""

    via: Literal["pbx", "tel"]
    number: str
    request: RequestSummary
    action_id: str | msgspec.UnsetType = msgspec.UNSET
    tel: str | msgspec.UnsetType = msgspec.UNSET
    pbx_error: str | msgspec.UnsetType = msgspec.UNSET  # why the PBX did not take the call


class NoticeList(_Body, kw_only=True):
    active: list[Notice]
    scheduled: list[Notice]
    history: list[Notice]


class NoticeResult(_Body, kw_only=True):
    notice: Notice


class ViewerList(_Body, kw_only=True):
    viewers: list[Viewer]
    refresh_s: float | msgspec.UnsetType = msgspec.UNSET  # tell again within this


BODIES: tuple[type[msgspec.Struct], ...] = (
    Error, Conflict, RequestList, RequestResult, ActionResult, ReplyResult, AgentResult,
    Receipt, AgentList, PresenceList, PresenceResult, Ok, CallbackOutcomeResult, CallNow,
    NoticeList, NoticeResult, ViewerList,
)
