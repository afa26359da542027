"""The JSON bodies the console's API accepts, typed: `hub.request_body.read_body` validates a
body against its model, and the OpenAPI's request schemas are generated from the same
models (`hub.openapi`), so what is documented is what is checked.

A constraint the model declares (a type, an enum, a length) is answered from the model's
`refusals` with the code the handlers always answered; a rule that needs the stores or the
request's state (a lane that must exist, a reply's length on its channel) stays with the
handler that knows it.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, ClassVar

import msgspec

from hub.agents import ADMIN_MIN_PASSWORD_LENGTH
from hub.console_presence import PresenceState
from hub.error_codes import ErrorCode, Reason
from hub.lanes import LANE_KEY, Strategy
from hub.model import CallbackOutcome, Channel
from hub.request_body import Refusal, Refusals, RequestModel

MAX_NOTE_CHARS = 4000  # dispatch.actions refuses a longer note from any caller too


class Login(RequestModel, kw_only=True):
    """Log in. A login longer than 64 characters is cut, never refused: a refusal would
    tell a guesser something a wrong password does not."""

    login: str
    password: str

    refusals: ClassVar[Refusals] = {
        "login": Refusal(ErrorCode.LOGIN_PASSWORD_REQUIRED, marks={"invalid": "required"}),
        "password": Refusal(ErrorCode.LOGIN_PASSWORD_REQUIRED, marks={"invalid": "required"}),
    }


class Transfer(RequestModel, kw_only=True):
    """Hand the request to another agent."""

    agent_id: uuid.UUID

    refusals: ClassVar[Refusals] = {
        "agent_id": Refusal(ErrorCode.TRANSFER_TARGET_INVALID, marks={"required": "invalid"}),
    }


class Note(RequestModel, kw_only=True):
    """An internal note on the request's handling history."""

    text: Annotated[str, msgspec.Meta(max_length=MAX_NOTE_CHARS)]

    refusals: ClassVar[Refusals] = {
        "text": Refusal(ErrorCode.TEXT_REQUIRED, marks={"invalid": "required"},
                        too_long=ErrorCode.NOTE_TOO_LONG.of(max=MAX_NOTE_CHARS)),
    }


class Reply(RequestModel, kw_only=True):
    """A reply to the passenger. Its length is checked against the channel it goes out on
    (SMS 1600 characters, email 100,000), the subject's as email allows it."""

    body: Annotated[str, msgspec.Meta(description="SMS at most 1600 characters")]
    client_key: Annotated[str, msgspec.Meta(
        description="the composer's own id: a resend is sent once (or give an "
                    "Idempotency-Key header)")] = ""
    channel: Annotated[Channel | None, msgspec.Meta(
        description="default: the request's own channel; a reply goes by sms or email")] = None
    subject: str | None = None
    attachments: Annotated[list[str] | None, msgspec.Meta(
        description="email replies only: the sha256 of files uploaded for this request "
                    "(POST .../attachments) within a day, at most 10")] = None

    refusals: ClassVar[Refusals] = {
        "body": Refusal(ErrorCode.BODY_REQUIRED, marks={"invalid": "required"}),
        "client_key": Refusal(ErrorCode.CLIENT_KEY_NOT_TEXT),
        "channel": Refusal(ErrorCode.CHANNEL_INVALID.of(
            allowed=", ".join(c.value for c in Channel))),
        "subject": Refusal(ErrorCode.SUBJECT_NOT_TEXT),
        "attachments": Refusal(ErrorCode.ATTACHMENTS_INVALID),
    }


class PresenceChoice(RequestModel, kw_only=True):
    """One's own presence state."""

    state: PresenceState

    refusals: ClassVar[Refusals] = {
        "state": Refusal(ErrorCode.PRESENCE_STATE_INVALID.of(
            allowed=", ".join(s.value for s in PresenceState)), marks={"required": "invalid"}),
    }


class CallbackOutcomeInput(RequestModel, kw_only=True):
    """What came of calling a passenger back."""

    outcome: CallbackOutcome
    note: str | None = None

    refusals: ClassVar[Refusals] = {
        "outcome": Refusal(ErrorCode.OUTCOME_INVALID.of(
            allowed=", ".join(o.value for o in CallbackOutcome)), marks={"required": "invalid"}),
        "note": Refusal(ErrorCode.NOTE_NOT_TEXT),
    }


class Viewing(RequestModel, kw_only=True):
    """This dispatcher has the request open, and is writing a reply or not."""

    typing: bool = False

    refusals: ClassVar[Refusals] = {"typing": Refusal(ErrorCode.TYPING_NOT_BOOLEAN)}


class ContactName(RequestModel, kw_only=True, forbid_unknown_fields=True):
    """Name the passenger; null or empty clears the name. Spaces are folded before the name's
    length (at most 200) is checked, so the length is the handler's."""

    name: str | None

    refusals: ClassVar[Refusals] = {
        "name": Refusal(ErrorCode.NAME_NOT_TEXT, required=ErrorCode.NAME_REQUIRED,
                        marks={"invalid": "not_text"}),
    }
    unknown: ClassVar[ErrorCode | Reason] = ErrorCode.PASSENGER_ONLY_NAME


class Merge(RequestModel, kw_only=True):
    """Merge this passenger into another, which survives."""

    into: uuid.UUID

    refusals: ClassVar[Refusals] = {
        "into": Refusal(ErrorCode.MERGE_TARGET_INVALID, marks={"required": "invalid"}),
    }


class PasswordReset(RequestModel, kw_only=True):
    """An admin sets an account's new password; its length and characters are the account
    rules' (hub.agents)."""

    password: Annotated[str, msgspec.Meta(min_length=ADMIN_MIN_PASSWORD_LENGTH)]

    refusals: ClassVar[Refusals] = {
        "password": Refusal(ErrorCode.CHECK_FIELDS, marks={"invalid": "required"},
                            too_short=ErrorCode.PASSWORD_TOO_SHORT.of(
                                min=ADMIN_MIN_PASSWORD_LENGTH)),
    }


class CannedRender(RequestModel, kw_only=True, forbid_unknown_fields=True):
    """Fill a canned reply in for a request; nothing is sent."""

    eta: Annotated[str | None, msgspec.Meta(
        description='required when the text names {eta}, e.g. "10 min"; at most 40 '
                    "characters once spaces are folded")] = None

    refusals: ClassVar[Refusals] = {"eta": Refusal(ErrorCode.ETA_NOT_TEXT)}
    marks_fields: ClassVar[bool] = False

    @classmethod
    def unknown_field(cls, name: str) -> ErrorCode | Reason:
        return ErrorCode.RENDER_UNKNOWN_FIELDS.of(unknown=name)


NOTICE_TEXT_CHARS = 1000  # spoken on the phone and sent by SMS: keep it short


def _notice_text(field: str) -> Refusal:
    return Refusal(ErrorCode.NOTICE_TEXT_REQUIRED.of(field=field), marks={"invalid": "required"})


def _notice_time(field: str) -> Refusal:
    return Refusal(ErrorCode.TIME_INVALID.of(field=field))


_ALL_CHANNELS = ", ".join(sorted(c.value for c in Channel))


class NoticeInput(RequestModel, kw_only=True):
    """A service notice to publish. The texts are trimmed before their length is checked,
    the lanes must exist and the times be in order: those rules are the handler's."""

    text_fi: Annotated[str, msgspec.Meta(description=f"at most {NOTICE_TEXT_CHARS} characters")]
    text_en: Annotated[str, msgspec.Meta(description=f"at most {NOTICE_TEXT_CHARS} characters")]
    text_sv: Annotated[str | None, msgspec.Meta(
        description="optional; Swedish-speaking passengers get text_fi when it is empty")
    ] = None
    channels: Annotated[list[Channel], msgspec.Meta(min_length=1)]
    lanes: Annotated[list[str] | None, msgspec.Meta(description="empty: every lane")] = None
    announcement_only: Annotated[bool, msgspec.Meta(
        description="every channel it covers answers with the notice and stores nothing (the "
                    "phone hangs up after it)")] = False
    valid_from: Annotated[str | None, msgspec.Meta(
        description="ISO 8601 with an offset; default: now")] = None
    valid_until: Annotated[str | None, msgspec.Meta(
        description="ISO 8601 with an offset, at most 31 days after valid_from; null: 31 "
                    "days")] = None

    refusals: ClassVar[Refusals] = {
        "text_fi": _notice_text("text_fi"),
        "text_en": _notice_text("text_en"),
        "text_sv": Refusal(ErrorCode.NOTICE_SV_INVALID),
        "channels": Refusal(ErrorCode.NOTICE_CHANNELS_INVALID.of(allowed=_ALL_CHANNELS),
                            marks={"required": "invalid", "too_few": "invalid"}),
        "lanes": Refusal(ErrorCode.NOTICE_LANES_INVALID),
        "announcement_only": Refusal(ErrorCode.ANNOUNCEMENT_ONLY_NOT_BOOLEAN),
        "valid_from": _notice_time("valid_from"),
        "valid_until": _notice_time("valid_until"),
    }


MAX_OFFER_TIMEOUT_S = 600
MAX_WINDOW_S = 7 * 24 * 3600
MAX_TARGET_WAIT_S = 24 * 3600
MAX_KEYWORDS = 50
MAX_KEYWORD_CHARS = 60


def _text_field(field: str) -> Refusal:
    """A text the handler trims and measures: any fault but length is "required"."""
    return Refusal(ErrorCode.FIELD_REQUIRED.of(field=field), marks={"invalid": "required"})


def _in_range(field: str, low: int, high: int) -> Refusal:
    return Refusal(ErrorCode.FIELD_NOT_IN_RANGE.of(field=field, min=low, max=high))


def _flag(field: str) -> Refusal:
    return Refusal(ErrorCode.FIELD_NOT_BOOLEAN.of(field=field))


class LaneSettings(RequestModel, kw_only=True):
    """Every setting of a lane (PUT replaces them all; the key is the path's). Names are
    trimmed, then at most 100 characters; opening hours are checked by hub.lanes."""

    name_fi: Annotated[str, msgspec.Meta(description="at most 100 characters")]
    name_en: Annotated[str, msgspec.Meta(description="at most 100 characters")]
    position: Annotated[int, msgspec.Meta(ge=0, le=10_000, description="tab order")] = 0
    priority: Annotated[int, msgspec.Meta(
        ge=-1000, le=1000, description="new requests' priority in this lane")] = 0
    strategy: Annotated[Strategy, msgspec.Meta(
        description="manual: picked from the shared queue; offer: offered to the "
                    "longest-idle available dispatcher, then the next")] = Strategy.MANUAL
    offer_timeout_s: Annotated[int, msgspec.Meta(ge=5, le=MAX_OFFER_TIMEOUT_S)] = 30
    last_agent_window_s: Annotated[int, msgspec.Meta(
        ge=0, le=MAX_WINDOW_S, description="offer a returning passenger's request first to "
        "their last dispatcher if they handled it this recently; 0: off")] = 0
    capacity: Annotated[int, msgspec.Meta(
        ge=0, le=1000, description="requests one dispatcher may hold; 0: no limit")] = 0
    target_wait_s: Annotated[int, msgspec.Meta(
        ge=10, le=MAX_TARGET_WAIT_S,
        description="the queue's waiting-time colours measure against it")] = 120
    opening_hours: Annotated[dict[str, Any] | None, msgspec.Meta(
        description='{timezone, week: {mon: [["07:00", "22:00"]], ...}, closed_dates: '
                    '["2026-12-24"]}; an empty week: always open')] = None
    active: bool = True

    refusals: ClassVar[Refusals] = {
        "name_fi": _text_field("name_fi"),
        "name_en": _text_field("name_en"),
        "position": _in_range("position", 0, 10_000),
        "priority": _in_range("priority", -1000, 1000),
        "strategy": Refusal(ErrorCode.STRATEGY_INVALID.of(
            allowed=", ".join(s.value for s in Strategy))),
        "offer_timeout_s": _in_range("offer_timeout_s", 5, MAX_OFFER_TIMEOUT_S),
        "last_agent_window_s": _in_range("last_agent_window_s", 0, MAX_WINDOW_S),
        "capacity": _in_range("capacity", 0, 1000),
        "target_wait_s": _in_range("target_wait_s", 10, MAX_TARGET_WAIT_S),
        "opening_hours": Refusal(ErrorCode.OPENING_HOURS_INVALID.of(
            problem="opening_hours must be an object")),
        "active": _flag("active"),
    }


class NewLane(LaneSettings, kw_only=True):
    """A lane to add: its key, then every setting."""

    key: Annotated[str, msgspec.Meta(pattern=LANE_KEY.pattern)]

    refusals: ClassVar[Refusals] = {
        **LaneSettings.refusals,
        "key": Refusal(ErrorCode.LANE_KEY_FORMAT, required=ErrorCode.FIELD_REQUIRED.of(
            field="key")),
    }


class RoutingRuleInput(RequestModel, kw_only=True):
    """A routing rule: at least one condition unless it is meant to catch all; its lane must
    exist (the handler's)."""

    lane: str
    position: Annotated[int, msgspec.Meta(ge=0, le=10_000,
                                          description="rules are tried in order")] = 0
    channel: Channel | None = None
    contacted: Annotated[str | None, msgspec.Meta(
        description="the number or address the passenger contacted")] = None
    keywords: Annotated[list[str], msgspec.Meta(max_length=MAX_KEYWORDS, description=(
        f"at most {MAX_KEYWORD_CHARS} characters each, once trimmed; any of these starts a "
        'word of the subject or text (a stem like "tilau" finds tilaus and tilauksen)'))
    ] | None = None
    form: Annotated[str | None, msgspec.Meta(description="the web form's `form` field")] = None
    active: bool = True

    refusals: ClassVar[Refusals] = {
        "lane": _text_field("lane"),
        "position": _in_range("position", 0, 10_000),
        "channel": Refusal(ErrorCode.RULE_CHANNEL_INVALID.of(
            allowed=", ".join(c.value for c in Channel))),
        "contacted": _text_field("contacted"),
        "keywords": Refusal(ErrorCode.KEYWORDS_INVALID.of(
            max=MAX_KEYWORDS, max_chars=MAX_KEYWORD_CHARS), marks={"too_many": "invalid"}),
        "form": _text_field("form"),
        "active": _flag("active"),
    }


class GroupMessage(RequestModel, kw_only=True):
    """A message to a staff group by SMS and/or email; the same client_key sends once."""

    body: Annotated[str, msgspec.Meta(description="SMS: at most 1600 characters")]
    subject: Annotated[str | None, msgspec.Meta(
        description="email; default: the group's name")] = None
    channels: Annotated[list[Channel], msgspec.Meta(
        min_length=1, description="sms and/or email")]
    client_key: Annotated[str, msgspec.Meta(
        description="the sender's own id (or an Idempotency-Key header)")] = ""

    refusals: ClassVar[Refusals] = {
        "body": Refusal(ErrorCode.BODY_REQUIRED, marks={"invalid": "required"}),
        "subject": Refusal(ErrorCode.SUBJECT_NOT_TEXT),
        "channels": Refusal(ErrorCode.GROUP_CHANNELS_INVALID,
                            required=ErrorCode.GROUP_CHANNELS_REQUIRED,
                            marks={"too_few": "required"}),
        "client_key": Refusal(ErrorCode.CLIENT_KEY_NOT_TEXT),
    }


class GroupName(RequestModel, kw_only=True):
    """A staff group's name: spaces folded, then at most 100 characters (the handler's)."""

    name: str

    refusals: ClassVar[Refusals] = {
        "name": Refusal(ErrorCode.GROUP_NAME_REQUIRED, marks={"invalid": "required"}),
    }


class GroupRename(GroupName, kw_only=True, forbid_unknown_fields=True):
    """A group's new name; nothing else of a group is set this way."""

    unknown: ClassVar[ErrorCode | Reason] = ErrorCode.GROUP_ONLY_NAME
    unknown_mark: ClassVar[str] = "not_settable"


class MembersImport(RequestModel, kw_only=True):
    """Members from CSV text, one per line `name;phone;email`; all lines or none."""

    csv: str
    replace: Annotated[bool, msgspec.Meta(
        description="the lines become the whole group")] = False

    refusals: ClassVar[Refusals] = {
        "csv": Refusal(ErrorCode.CSV_REQUIRED, marks={"invalid": "required"}),
        "replace": Refusal(ErrorCode.REPLACE_NOT_BOOLEAN),
    }


# Every request model, for the OpenAPI's component schemas.
MODELS: tuple[type[RequestModel], ...] = (
    Login, Transfer, Note, Reply, PresenceChoice, CallbackOutcomeInput, Viewing, ContactName,
    Merge, PasswordReset, CannedRender, NoticeInput, LaneSettings, NewLane, RoutingRuleInput,
    GroupMessage, GroupName, GroupRename, MembersImport)
