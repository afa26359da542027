"""Every error code the hub answers with, in one table, and their texts.

An error answer carries a stable `code` and the `params` its text needs, beside the English
`reason` (for logs and API clients): the console renders `error.<code>` from the catalogue in
hub/catalogue/errors/<language>.json with the params, so a Finnish dispatcher reads Finnish.
The English reason is rendered from the English entry, so the two cannot drift.

    raise BadInput(ErrorCode.PASSWORD_TOO_SHORT.of(min=12), {"password": "too_short"})

The generic codes (BAD_INPUT ... RETRY_LATER) are what an error raised with a plain English
reason carries: the gateways' and machines' refusals (webhook signatures and payloads, the
form and CTI APIs, IMAP and SMTP) that no dispatcher, admin or passenger meets on a page.
Their entries say only what kind of refusal it was; the reason stays in `error`.

Params are plain values (str, int, float; a list is given joined with ", "), named as the
text names them. Two codes carry an English detail they cannot do without as a param:
opening_hours_invalid (which part of the opening hours is wrong) and form_invalid (the
form's field summary; the form itself marks its fields by code). A field error in `fields`
is a short code of its own (required, invalid, too_long, too_short, not_text, not_settable,
taken, phone_or_email ...): it marks the field, the sentence is the error's.

Languages: fi and en hold every code; sv holds only the codes a passenger can meet in the
web form and the chat widget (PASSENGER_CODES), for the console speaks only Finnish and
English. tests/hub/test_error_codes.py holds the files to that.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

ERRORS_DIR = Path(__file__).parent / "catalogue" / "errors"
LANGUAGES = ("fi", "en", "sv")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")

Param = str | int | float


class ErrorCode(StrEnum):
    # The generic codes, one per exception class, for reasons given as plain text.
    BAD_INPUT = "bad_input"
    TOO_LARGE = "too_large"
    CONFLICT = "conflict"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    RETRY_LATER = "retry_later"
    # The middleware's own answers, and aiohttp's refusals it puts into the error body.
    UNAUTHORIZED = "unauthorized"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    BODY_TOO_LARGE = "body_too_large"
    HUB_BUSY = "hub_busy"
    INTERNAL = "internal"
    # The rest, by name.
    ACCOUNT_UNSTORABLE = "account_unstorable"
    ADMINS_ONLY = "admins_only"
    AGENT_FILTER_INVALID = "agent_filter_invalid"
    AGENT_NOT_FOUND = "agent_not_found"
    ANNOUNCEMENT_ONLY = "announcement_only"
    ANNOUNCEMENT_ONLY_NEEDS_PHONE = "announcement_only_needs_phone"
    ANNOUNCEMENT_ONLY_NOT_BOOLEAN = "announcement_only_not_boolean"
    ATTACHMENTS_INVALID = "attachments_invalid"
    ATTACHMENTS_TOO_MANY = "attachments_too_many"
    ATTACHMENT_GONE = "attachment_gone"
    ATTACHMENT_NOT_FOUND = "attachment_not_found"
    ATTACHMENT_NOT_UPLOADED = "attachment_not_uploaded"
    AUDIT_FILTER_UNSTORABLE = "audit_filter_unstorable"
    BEFORE_INVALID = "before_invalid"
    BODY_NOT_OBJECT = "body_not_object"
    BODY_NOT_UTF8 = "body_not_utf8"
    BODY_REQUIRED = "body_required"
    BODY_TOO_LONG_NOW = "body_too_long_now"
    BODY_UNSTORABLE = "body_unstorable"
    CALLBACK_NO_NUMBER = "callback_no_number"
    CALL_NUMBER_INVALID = "call_number_invalid"
    CANNED_CENTRE_ONLY = "canned_centre_only"
    CANNED_NOT_FOUND = "canned_not_found"
    CANNED_UNKNOWN_FIELDS = "canned_unknown_fields"
    CANNOT_DEMOTE_SELF = "cannot_demote_self"
    CANNOT_DISABLE_SELF = "cannot_disable_self"
    CHANNEL_INVALID = "channel_invalid"
    CHAT_CONNECTIONS_TOO_MANY = "chat_connections_too_many"
    CHAT_FRAMES_TOO_MANY = "chat_frames_too_many"
    CHAT_FRAME_INVALID = "chat_frame_invalid"
    CHAT_FRAME_NOT_OBJECT = "chat_frame_not_object"
    CHAT_FRAME_NOT_TEXT = "chat_frame_not_text"
    CHAT_FRAME_UNKNOWN = "chat_frame_unknown"
    CHAT_HANDSHAKES_TOO_MANY = "chat_handshakes_too_many"
    CHAT_HELLO_FIRST = "chat_hello_first"
    CHAT_HELLO_LATE = "chat_hello_late"
    CHAT_HELLO_TWICE = "chat_hello_twice"
    CHAT_INTERRUPTED = "chat_interrupted"
    CHAT_MESSAGES_TOO_MANY = "chat_messages_too_many"
    CHAT_MESSAGE_TOO_LONG = "chat_message_too_long"
    CHAT_UNAVAILABLE = "chat_unavailable"
    CHECK_FIELDS = "check_fields"
    CLIENT_KEY_NOT_TEXT = "client_key_not_text"
    CLIENT_KEY_REUSED_GROUP = "client_key_reused_group"
    CLIENT_KEY_REUSED_REQUEST = "client_key_reused_request"
    CONTACT_CONFLICTS = "contact_conflicts"
    CONTACT_NOT_STORED = "contact_not_stored"
    CSV_EMPTY = "csv_empty"
    CSV_LINES_INVALID = "csv_lines_invalid"
    CSV_REQUIRED = "csv_required"
    CSV_TOO_LONG = "csv_too_long"
    CSV_TOO_MANY = "csv_too_many"
    CURSOR_DAMAGED = "cursor_damaged"
    CURSOR_INVALID = "cursor_invalid"
    CURSOR_OTHER_FILTERS = "cursor_other_filters"
    DATABASE_UNAVAILABLE = "database_unavailable"
    DATE_INVALID = "date_invalid"
    DATE_OUT_OF_RANGE = "date_out_of_range"
    DATE_REQUIRED = "date_required"
    DEFAULT_LANE_KEPT = "default_lane_kept"
    DELIVERY_STATE_INVALID = "delivery_state_invalid"
    EMAIL_INVALID = "email_invalid"
    ERASURE_BUSY = "erasure_busy"
    ETA_NOT_TEXT = "eta_not_text"
    ETA_REQUIRED = "eta_required"
    ETA_TOO_LONG = "eta_too_long"
    EXTERNAL_NO_COLLEAGUES = "external_no_colleagues"
    EXTERNAL_NO_PRESENCE = "external_no_presence"
    EXTERNAL_NO_TRANSFER = "external_no_transfer"
    EXTERNAL_ONLY_ASSIGNED = "external_only_assigned"
    FIELD_NOT_BOOLEAN = "field_not_boolean"
    FIELD_NOT_IN_RANGE = "field_not_in_range"
    FIELD_NOT_TEXT = "field_not_text"
    FIELD_REQUIRED = "field_required"
    FIELD_TOO_LONG = "field_too_long"
    FIELD_TOO_LONG_NOW = "field_too_long_now"
    FIELD_UNSTORABLE = "field_unstorable"
    FILES_ONLY_EMAIL = "files_only_email"
    FORM_CHARSET_INVALID = "form_charset_invalid"
    FORM_INVALID = "form_invalid"
    FORM_UNREADABLE = "form_unreadable"
    GROUPS_CENTRE_ONLY = "groups_centre_only"
    GROUP_CHANNELS_INVALID = "group_channels_invalid"
    GROUP_CHANNELS_REQUIRED = "group_channels_required"
    GROUP_CHANNEL_DISABLED = "group_channel_disabled"
    GROUP_CLIENT_KEY_INVALID = "group_client_key_invalid"
    GROUP_NAME_INVALID = "group_name_invalid"
    GROUP_NAME_REQUIRED = "group_name_required"
    GROUP_NAME_TAKEN = "group_name_taken"
    GROUP_NOT_FOUND = "group_not_found"
    GROUP_NO_RECIPIENTS = "group_no_recipients"
    GROUP_ONLY_NAME = "group_only_name"
    GROUP_TOO_MANY_MEMBERS = "group_too_many_members"
    HUB_AT_CAPACITY = "hub_at_capacity"
    HUB_STARTING = "hub_starting"
    HUB_STOPPING = "hub_stopping"
    JSON_MALFORMED = "json_malformed"
    JSON_TOO_DEEP = "json_too_deep"
    KEYWORDS_INVALID = "keywords_invalid"
    LANES_UNKNOWN = "lanes_unknown"
    LANE_CAPACITY_REACHED = "lane_capacity_reached"
    LANE_KEY_FORMAT = "lane_key_format"
    LANE_KEY_INVALID = "lane_key_invalid"
    LANE_KEY_TAKEN = "lane_key_taken"
    LANE_NOT_EMPTY = "lane_not_empty"
    LANE_NOT_FOUND = "lane_not_found"
    LANE_UNKNOWN = "lane_unknown"
    LANE_UNKNOWN_CHOOSE = "lane_unknown_choose"
    LANGUAGE_INVALID = "language_invalid"
    LIMIT_INVALID = "limit_invalid"
    LOGIN_FAILED = "login_failed"
    LOGIN_INVALID = "login_invalid"
    LOGIN_PASSWORD_REQUIRED = "login_password_required"
    LOGIN_REQUIRED = "login_required"
    LOGIN_TAKEN = "login_taken"
    LOGIN_THROTTLED = "login_throttled"
    MEMBER_NOT_FOUND = "member_not_found"
    MERGE_INTO_SELF = "merge_into_self"
    MERGE_TARGET_INVALID = "merge_target_invalid"
    MERGE_TARGET_NOT_FOUND = "merge_target_not_found"
    MESSAGE_EMPTY = "message_empty"
    MESSAGE_TOO_LONG = "message_too_long"
    MESSAGE_UNSENDABLE = "message_unsendable"
    MESSAGE_UNSTORABLE = "message_unstorable"
    NAME_NOT_TEXT = "name_not_text"
    NAME_REQUIRED = "name_required"
    NAME_TOO_LONG = "name_too_long"
    NAME_UNSTORABLE = "name_unstorable"
    NOTE_EMPTY = "note_empty"
    NOTE_NOT_TEXT = "note_not_text"
    NOTE_TOO_LONG = "note_too_long"
    NOTE_UNSTORABLE = "note_unstorable"
    NOTICES_CENTRE_ONLY = "notices_centre_only"
    NOTICE_CHANNELS_INVALID = "notice_channels_invalid"
    NOTICE_ENDED = "notice_ended"
    NOTICE_ENDS_BEFORE_START = "notice_ends_before_start"
    NOTICE_LANES_INVALID = "notice_lanes_invalid"
    NOTICE_NOT_FOUND = "notice_not_found"
    NOTICE_SV_INVALID = "notice_sv_invalid"
    NOTICE_TEXT_INVALID = "notice_text_invalid"
    NOTICE_TEXT_REQUIRED = "notice_text_required"
    NOTICE_TOO_LONG = "notice_too_long"
    NO_CHANNEL_REACHES_PASSENGER = "no_channel_reaches_passenger"
    NO_ENDPOINT = "no_endpoint"
    NO_ORDER = "no_order"
    OFFER_NOT_YOURS = "offer_not_yours"
    ON_NOT_BOOLEAN = "on_not_boolean"
    OPENING_HOURS_INVALID = "opening_hours_invalid"
    OPTED_OUT_OF_SMS = "opted_out_of_sms"
    ORDER_INVALID = "order_invalid"
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"
    OUTCOME_INVALID = "outcome_invalid"
    PASSENGERS_CENTRE_ONLY = "passengers_centre_only"
    PASSENGER_MERGED = "passenger_merged"
    PASSENGER_NOT_FOUND = "passenger_not_found"
    PASSENGER_NO_ADDRESS = "passenger_no_address"
    PASSENGER_ONLY_NAME = "passenger_only_name"
    PASSWORD_TOO_SHORT = "password_too_short"
    PERIOD_REVERSED = "period_reversed"
    PERIOD_TOO_LONG = "period_too_long"
    PHONE_INVALID = "phone_invalid"
    PHONE_NOT_POSSIBLE = "phone_not_possible"
    PHONE_NOT_TEXT = "phone_not_text"
    PHONE_OR_EMAIL = "phone_or_email"
    PHONE_OR_EMAIL_NOT_BOTH = "phone_or_email_not_both"
    PLACEHOLDERS_NOT_FILLED = "placeholders_not_filled"
    PLACEHOLDERS_UNKNOWN = "placeholders_unknown"
    POSITION_INVALID = "position_invalid"
    PRESENCE_STATE_INVALID = "presence_state_invalid"
    QUERY_MAX_CHARS = "query_max_chars"
    QUERY_MAX_WORDS = "query_max_words"
    QUERY_TOO_LONG = "query_too_long"
    QUERY_TOO_SHORT = "query_too_short"
    QUEUE_FILTER_INVALID = "queue_filter_invalid"
    RENDER_UNKNOWN_FIELDS = "render_unknown_fields"
    REPLACE_NOT_BOOLEAN = "replace_not_boolean"
    REPLY_CHANNEL_DISABLED = "reply_channel_disabled"
    REPLY_CLIENT_KEY_INVALID = "reply_client_key_invalid"
    REPLY_EMPTY = "reply_empty"
    REPLY_TOO_LONG = "reply_too_long"
    REPLY_UNSENDABLE = "reply_unsendable"
    REPORTS_FORBIDDEN = "reports_forbidden"
    REPORT_BY_INVALID = "report_by_invalid"
    REQUEST_HELD = "request_held"
    REQUEST_HELD_BY = "request_held_by"
    REQUEST_NOT_ACTIONABLE = "request_not_actionable"
    REQUEST_NOT_FOUND = "request_not_found"
    REQUEST_OFFERED_TO = "request_offered_to"
    REQUEST_OFFERED_TO_COLLEAGUE = "request_offered_to_colleague"
    REQUEST_RESOLVED = "request_resolved"
    REQUEST_RESOLVED_REOPEN = "request_resolved_reopen"
    RULE_CHANNEL_INVALID = "rule_channel_invalid"
    RULE_NOT_FOUND = "rule_not_found"
    SEQUENCE_INVALID = "sequence_invalid"
    SERVICE_LEVEL_INVALID = "service_level_invalid"
    STATUS_INVALID = "status_invalid"
    STORE_UNAVAILABLE = "store_unavailable"
    STRATEGY_INVALID = "strategy_invalid"
    SUBJECT_INVALID = "subject_invalid"
    SUBJECT_NOT_FOUND = "subject_not_found"
    SUBJECT_NOT_TEXT = "subject_not_text"
    SUBJECT_TOO_LONG = "subject_too_long"
    SUBMISSION_ID_REUSED = "submission_id_reused"
    TEMPLATE_EXISTS = "template_exists"
    TEMPLATE_EXISTS_EVERY_LANE = "template_exists_every_lane"
    TEMPLATE_KIND_INVALID = "template_kind_invalid"
    TEMPLATE_NOT_FOUND = "template_not_found"
    TEMPLATE_UNKNOWN_FIELDS = "template_unknown_fields"
    TEXT_REQUIRED = "text_required"
    TIME_INVALID = "time_invalid"
    TIME_NEEDS_OFFSET = "time_needs_offset"
    TRANSFER_TARGET_INVALID = "transfer_target_invalid"
    TRANSFER_TARGET_UNKNOWN = "transfer_target_unknown"
    TYPING_NOT_BOOLEAN = "typing_not_boolean"
    UPLOAD_EMPTY = "upload_empty"
    UPLOAD_FILE_REQUIRED = "upload_file_required"
    UPLOAD_TOO_LARGE = "upload_too_large"
    UPLOAD_TYPE_MISMATCH = "upload_type_mismatch"
    WEBHOOK_ENDPOINT_INVALID = "webhook_endpoint_invalid"
    WEBHOOK_EVENT_INVALID = "webhook_event_invalid"

    def of(self, **params: Param) -> Reason:
        """This code with the values its text names."""
        return Reason(self, params)


@dataclass(frozen=True, slots=True)
class Reason:
    """A code with its params: what an error raised with it says, in any language."""

    code: ErrorCode
    params: Mapping[str, Param] = field(default_factory=dict)

    def english(self) -> str:
        return render(self.code, self.params, "en")


# What a passenger can be refused in the web form and the chat widget: these have Swedish.
PASSENGER_CODES = frozenset({
    ErrorCode.BAD_INPUT, ErrorCode.TOO_LARGE, ErrorCode.RETRY_LATER, ErrorCode.NOT_FOUND,
    ErrorCode.HUB_BUSY, ErrorCode.INTERNAL, ErrorCode.BODY_TOO_LARGE,
    ErrorCode.HUB_STARTING, ErrorCode.CHAT_UNAVAILABLE, ErrorCode.REQUEST_NOT_FOUND,
    ErrorCode.FORM_UNREADABLE, ErrorCode.FORM_INVALID, ErrorCode.FORM_CHARSET_INVALID,
    ErrorCode.DATABASE_UNAVAILABLE, ErrorCode.STORE_UNAVAILABLE,
    ErrorCode.BODY_NOT_OBJECT, ErrorCode.BODY_NOT_UTF8, ErrorCode.JSON_MALFORMED,
    ErrorCode.JSON_TOO_DEEP, ErrorCode.PHONE_INVALID, ErrorCode.PHONE_NOT_POSSIBLE,
    ErrorCode.EMAIL_INVALID, ErrorCode.HUB_AT_CAPACITY, ErrorCode.CONTACT_CONFLICTS,
    ErrorCode.CONTACT_NOT_STORED, ErrorCode.MESSAGE_UNSTORABLE,
    # The chat socket's own refusals: its close reasons, nacks and handshake refusals.
    ErrorCode.ANNOUNCEMENT_ONLY, ErrorCode.CHECK_FIELDS, ErrorCode.CHAT_CONNECTIONS_TOO_MANY,
    ErrorCode.CHAT_FRAMES_TOO_MANY, ErrorCode.CHAT_FRAME_INVALID, ErrorCode.CHAT_FRAME_NOT_OBJECT,
    ErrorCode.CHAT_FRAME_NOT_TEXT, ErrorCode.CHAT_FRAME_UNKNOWN,
    ErrorCode.CHAT_HANDSHAKES_TOO_MANY, ErrorCode.CHAT_HELLO_FIRST, ErrorCode.CHAT_HELLO_LATE,
    ErrorCode.CHAT_HELLO_TWICE, ErrorCode.CHAT_INTERRUPTED, ErrorCode.CHAT_MESSAGES_TOO_MANY,
    ErrorCode.CHAT_MESSAGE_TOO_LONG, ErrorCode.HUB_STOPPING, ErrorCode.ORIGIN_NOT_ALLOWED,
})


@functools.cache
def texts(language: str) -> Mapping[str, str]:
    """The language's `error.<code>` entries, read once."""
    if language not in LANGUAGES:
        raise KeyError(f"no error texts for {language!r}; known: {LANGUAGES}")
    loaded: dict[str, str] = json.loads((ERRORS_DIR / f"{language}.json").read_text("utf-8"))
    return loaded


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def answer(why: Reason) -> dict[str, object]:
    """The error body of an answer written outside hub.middleware (an HTTPException's text)."""
    return {"error": why.english(), "code": why.code.value, "params": dict(why.params)}


def render(code: ErrorCode, params: Mapping[str, Param], language: str) -> str:
    """The code's text in the language with its params; KeyError for a missing one."""
    return _PLACEHOLDER.sub(lambda m: str(params[m.group(1)]),
                            texts(language)[f"error.{code.value}"])
