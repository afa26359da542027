"""The hub's exceptions, in one small tree.

    TaxiConnectError
    ├── CodedError            answered with a reason, a code and the code's params
    │   ├── BadInput          the caller sent something wrong: 4xx / SMTP 5xx with `reason`
    │   │   └── TooLarge      the body is over the limit: 413 / SMTP 552
    │   ├── Conflict          the action lost to another (a claim held by someone else): 409
    │   ├── NotFound          404
    │   ├── Forbidden         authenticated but not allowed: 403
    │   └── RetryLater        a passing condition (overload, store unreachable): 503 + Retry-After
    ├── OperatorMustAct       configuration or environment is wrong: fail start-up loudly
    └── AnnouncementOnly      not a failure: an announcement-only service notice covers the
                              contact, so nothing of it is stored; answer 200 (or the channel's
                              own success) with the notice where the channel can carry it

A CodedError carries a `code` and its `params` (hub.error_codes) beside the English
`reason`: raised with an ErrorCode or a Reason (`ErrorCode.X.of(...)`), the reason is that
code's English text; raised with plain text, the code is the class's generic one.

Library exceptions are converted into these at the edge that calls the library.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from hub.error_codes import ErrorCode, Param, Reason

if TYPE_CHECKING:
    from hub.model import Notice

Why = Reason | ErrorCode | str


class TaxiConnectError(Exception):
    """Base of every error the hub raises on purpose."""


class CodedError(TaxiConnectError):
    """An error answered with a reason, a code and the code's params."""

    generic: ClassVar[ErrorCode]  # the code of a reason given as plain text
    code: ErrorCode
    params: dict[str, Param]

    def __init__(self, why: Why) -> None:
        if isinstance(why, ErrorCode):
            why = why.of()
        if isinstance(why, Reason):
            self.code, self.params = why.code, dict(why.params)
            self.reason = why.english()
        else:
            self.code, self.params = self.generic, {}
            self.reason = why
        super().__init__(self.reason)


class BadInput(CodedError):
    generic = ErrorCode.BAD_INPUT

    def __init__(self, why: Why, field_errors: Mapping[str, str] | None = None) -> None:
        super().__init__(why)
        self.field_errors = dict(field_errors or {})


class TooLarge(BadInput):
    generic = ErrorCode.TOO_LARGE


class Conflict(CodedError):
    generic = ErrorCode.CONFLICT

    def __init__(self, why: Why, detail: Mapping[str, Any] | None = None) -> None:
        super().__init__(why)
        self.detail = dict(detail or {})


class NotFound(CodedError):
    generic = ErrorCode.NOT_FOUND

    def __init__(self, why: Why = "not found") -> None:
        super().__init__(why)


class Forbidden(CodedError):
    generic = ErrorCode.FORBIDDEN

    def __init__(self, why: Why = "forbidden") -> None:
        super().__init__(why)


class RetryLater(CodedError):
    generic = ErrorCode.RETRY_LATER

    def __init__(self, why: Why, retry_after_s: int = 1) -> None:
        super().__init__(why)
        self.retry_after_s = retry_after_s


class OperatorMustAct(TaxiConnectError):
    pass


class AnnouncementOnly(TaxiConnectError):
    """Raised by the one door in (hub.ingest.Ingestor.submit, hub.calls.CallStore) instead
    of storing: every adapter's inbound path meets it, so none can store past the notice."""

    def __init__(self, notice: Notice) -> None:
        super().__init__("an announcement-only service notice is in force")
        self.notice = notice
