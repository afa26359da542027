"""The JSON bodies the features answer with, typed: lanes and routing rules, staff groups and
their messages, automatic answer templates, channel alerts and a passenger's erasure. The
OpenAPI's component schemas for them are generated from these (`hub.openapi`), beside the
core's (`hub.bodies`), and tests/hub/test_openapi_answers.py checks real answers against them.

The core imports no feature: these describe the JSON that dispatch's handlers write (named
on each), so a field added there but not here fails the contract test (every record forbids
unknown fields).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

import msgspec

from hub.events import ChannelAlertInfo
from hub.records import AgentRef, RequestSummary, Status


class _Body(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


Strategy = Literal["manual", "offer"]  # hub.lanes.Strategy
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ChannelName = Literal["phone", "sms", "email", "chat", "webform"]  # hub.model.Channel
Language = Literal["fi", "sv", "en"]
TemplateKind = Literal["acknowledgement", "out_of_hours"]  # hub.answer_templates.KINDS


# ---- lanes and routing rules (dispatch.lanes_api) -------------------------------------------


class LaneName(_Body, kw_only=True):
    fi: str
    en: str


class ConsoleLane(_Body, kw_only=True):
    """A lane as the console's tabs show it, and whether it is open now."""

    key: str
    name: LaneName
    position: int
    priority: int
    strategy: Strategy
    target_wait_s: int
    open: bool


class ConsoleLaneList(_Body, kw_only=True):
    lanes: list[ConsoleLane]


class OpeningHours(_Body, kw_only=True):
    """Weekly spans ["07:00", "22:00"] in the timezone, minus closed dates; an empty week:
    always open."""

    timezone: str
    week: dict[Weekday, list[tuple[str, str]]]
    closed_dates: list[date]


class Lane(_Body, kw_only=True):
    """A lane with every setting an admin keeps."""

    key: str
    name_fi: str
    name_en: str
    position: int
    priority: int
    strategy: Strategy
    offer_timeout_s: int
    last_agent_window_s: int
    capacity: int
    target_wait_s: int
    opening_hours: OpeningHours
    active: bool
    open: bool  # open now, by its opening hours
    is_default: bool  # the default lane: kept, and where no rule's contact waits


class RoutingRule(_Body, kw_only=True):
    id: str
    position: int
    lane: str
    channel: ChannelName | None
    contacted: str | None
    keywords: list[str]
    form: str | None
    active: bool


class LanesAndRules(_Body, kw_only=True):
    lanes: list[Lane]
    rules: list[RoutingRule]


class LaneResult(_Body, kw_only=True):
    lane: Lane


class RoutingRuleResult(_Body, kw_only=True):
    rule: RoutingRule


class Declined(_Body, kw_only=True):
    declined: bool  # always true: a refusal is a 409


# ---- staff groups (dispatch.groups_api, dispatch.groups, dispatch.groups_sent) ----------------


class Group(_Body, kw_only=True):
    """A group with its counts of members, of their numbers and of their addresses."""

    id: str
    name: str
    members: int
    phones: int
    emails: int
    created_at: datetime
    updated_at: datetime


class GroupMember(_Body, kw_only=True):
    id: str
    name: str
    phone: str | None  # E.164
    email: str | None
    created_at: datetime


class GroupWithMembers(Group, kw_only=True):
    member_list: list[GroupMember]  # by name


class GroupList(_Body, kw_only=True):
    groups: list[Group]


class GroupResult(_Body, kw_only=True):
    group: GroupWithMembers


class GroupMemberResult(_Body, kw_only=True):
    member: GroupMember


class MembersImported(_Body, kw_only=True):
    group: GroupWithMembers
    added: int
    skipped: int  # a number or address in the group already
    removed: int  # `replace`: the members there were before


class GroupDeleted(_Body, kw_only=True):
    deleted: bool  # always true (a group or a member; canned replies answer with the id)


class DeliveryCounts(_Body, kw_only=True):
    """Deliveries by state (hub.model.DeliveryState)."""

    queued: int
    sent: int
    delivered: int
    failed: int


class GroupDeliveryFailure(_Body, kw_only=True):
    channel: str
    recipient: str
    name: str  # the member's name when sent ("" if unknown)
    reason: str | None
    attempts: int


class GroupMessageSent(_Body, kw_only=True):
    """One message to a group and what became of it; its thread is a request."""

    id: str
    request_id: str
    reference: str
    status: Status
    channels: list[str]
    created_at: datetime
    created_by: AgentRef
    body: str
    subject: str | None
    recipients: int
    counts: DeliveryCounts
    by_channel: dict[str, DeliveryCounts]
    failures: list[GroupDeliveryFailure]
    answers: int  # members' messages that came back into the thread


class GroupMessageList(_Body, kw_only=True):
    group: Group
    messages: list[GroupMessageSent]  # newest first


class GroupMessageRef(_Body, kw_only=True):
    id: str
    recipients: int


class GroupMessageResult(_Body, kw_only=True):
    group_message: GroupMessageRef
    request: RequestSummary  # the thread, claimed by the sender
    changed: bool  # false: this client_key was sent before


# ---- automatic answer templates (dispatch.answer_templates_api) -----------------------------


class AnswerTemplate(_Body, kw_only=True):
    id: str
    kind: TemplateKind
    lane: str | None  # null: every lane without a template of its own
    language: Language
    body: str
    updated_by: AgentRef | None
    updated_at: datetime


class AnswerTemplateList(_Body, kw_only=True):
    """The templates, and what an admin needs to write one."""

    answer_templates: list[AnswerTemplate]
    kinds: list[TemplateKind]
    languages: list[Language]
    placeholders: list[str]
    filled: dict[TemplateKind, list[str]]  # the placeholders each kind fills
    defaults: dict[TemplateKind, dict[Language, str]]  # the built-in texts


class AnswerTemplateResult(_Body, kw_only=True):
    answer_template: AnswerTemplate


# ---- channel alerts (dispatch.channel_alerts) and erasure (dispatch.subject_api) -------------


class AlertList(_Body, kw_only=True):
    at: datetime
    alerts: list[ChannelAlertInfo]  # as the channel.alert console event carries them


class ErasureCounts(_Body, kw_only=True):
    """What one erasure changed, in counts (hub.subject_erase.Erased)."""

    requests: int
    messages: int
    contacts: int
    calls: int
    recordings: int
    deliveries: int
    group_members: int
    opt_outs: int
    files: int
    stream_entries: int
    redis_keys: int


class ErasureResult(_Body, kw_only=True):
    erased: ErasureCounts


BODIES: tuple[type[msgspec.Struct], ...] = (
    ConsoleLaneList, LanesAndRules, LaneResult, RoutingRuleResult, Declined,
    GroupList, GroupResult, GroupMemberResult, MembersImported, GroupDeleted,
    GroupMessageList, GroupMessageResult,
    AnswerTemplateList, AnswerTemplateResult, AlertList, ErasureResult,
)
