"""No passenger's number or address, and no secret, in any log line: ours or a library's.

Two guards, installed by the command line before anything logs:

- `PrivateAccessLogger`: the opt-in access log writes the path without its query string
  (a PBX's `?token=`, a dispatcher's search by number or name) and never a header.
- `MaskingFilter` on every root handler: what any logger formats, a library's included, is
  rewritten with addresses and numbers masked, as `hub.phone.mask_phone` masks our own.
  (aiosmtpd's `mail.log`, which names each sender at INFO, says warnings only:
  channels/email/smtp_server.py.)
"""

from __future__ import annotations

import logging
import re

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

EMAIL = re.compile(r"[\w.+-]+@([\w-]+\.)+[\w-]{2,}")
# A number as people and gateways write one: "+" or a leading 0 (trunk or international
# prefix), then at least 6 more digits with the separators people type. Counts, sizes and
# times in log lines do not start that way.
PHONE = re.compile(r"(?<![\w.:])(?:\+|0)\d[\d \-()]{4,}\d(?![\w:])")


def mask_text(text: str) -> str:
    text = EMAIL.sub(lambda m: "***@" + m.group(0).rpartition("@")[2], text)
    return PHONE.sub(_mask_number, text)


def _mask_number(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    if len(digits) < 7:
        return match.group(0)  # a short count, a port, a time: not a number
    return f"{'+' if match.group(0).startswith('+') else ''}***{digits[-2:]}"


class MaskingFilter(logging.Filter):
    """Masks the formatted message (and any exception text) of every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        return True


def install() -> None:
    """Every handler of the root logger masks what it writes."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())


class PrivateAccessLogger(AbstractAccessLogger):
    """address, method, path without its query, status, size and time; nothing else."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        query = "?…" if request.query_string else ""
        self.logger.info('%s "%s %s%s" %s %s %.1f ms', request.remote, request.method,
                         request.path, query, response.status, response.body_length,
                         time * 1000)
