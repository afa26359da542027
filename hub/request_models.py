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
from typing import Annotated, ClassVar

import msgspec

from hub.console_presence import PresenceState
from hub.error_codes import ErrorCode, Reason
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


# Every request model, for the OpenAPI's component schemas.
MODELS: tuple[type[RequestModel], ...] = (
    Login, Transfer, Note, Reply, PresenceChoice, CallbackOutcomeInput, Viewing, ContactName,
    Merge)
