"""The hub's exceptions, in one small tree.

    TaxiConnectError
    ├── BadInput            the caller sent something wrong: answer 4xx / SMTP 5xx with `reason`
    │   └── TooLarge        the body is over the limit: 413 / SMTP 552
    ├── Conflict            the action lost to another (a claim held by someone else): 409
    ├── NotFound            404
    ├── Forbidden           authenticated but not allowed: 403
    ├── RetryLater          a passing condition (overload, store unreachable): 503 + Retry-After
    ├── OperatorMustAct     configuration or environment is wrong: fail start-up loudly
    └── AnnouncementOnly    not a failure: an announcement-only service notice covers the
                            contact, so nothing of it is stored; answer 200 (or the channel's
                            own success) with the notice where the channel can carry it

Library exceptions are converted into these at the edge that calls the library.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.model import Notice


class TaxiConnectError(Exception):
    """Base of every error the hub raises on purpose."""


class BadInput(TaxiConnectError):
    def __init__(self, reason: str, field_errors: Mapping[str, str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field_errors = dict(field_errors or {})


class TooLarge(BadInput):
    pass


class Conflict(TaxiConnectError):
    def __init__(self, reason: str, detail: Mapping[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = dict(detail or {})


class NotFound(TaxiConnectError):
    pass


class Forbidden(TaxiConnectError):
    pass


class RetryLater(TaxiConnectError):
    def __init__(self, reason: str, retry_after_s: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


class OperatorMustAct(TaxiConnectError):
    pass


class AnnouncementOnly(TaxiConnectError):
    """Raised by the one door in (hub.ingest.Ingestor.submit, hub.calls.CallStore) instead
    of storing: every adapter's inbound path meets it, so none can store past the notice."""

    def __init__(self, notice: Notice) -> None:
        super().__init__("an announcement-only service notice is in force")
        self.notice = notice
