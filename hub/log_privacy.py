"""No passenger's number or address, and no secret, in any log line: ours or a library's.

Two guards, installed by the command line before anything logs:

- `PrivateAccessLogger`: the opt-in access log writes the path without its query string
  (a PBX's `?token=`, a dispatcher's search by number or name) and never a header.
- `MaskingFilter` on every root handler: what any logger formats, a library's included, is
  rewritten with addresses and numbers masked, as `hub.phone.mask_phone` masks our own, and
  the user and password of any URL (a DSN) cut out.
  Libraries whose lines below WARNING carry the data itself (`QUIET_LOGGERS`: aiosqlite
  logs every statement with its parameters at DEBUG, names and texts a pattern cannot
  recognise) say warnings only there. (aiosmtpd's `mail.log` also does so at its own
  logger: channels/email/smtp_server.py.)
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


# A URL's user and password (a DSN's `postgres:pw@`, Redis's `:pw@`): the whole userinfo,
# up to the last "@" before the path.
CREDENTIALS = re.compile(r"(?<=://)[^\s/?#]*@")

# Loggers (and their children) that write passengers' data below WARNING, and what.
QUIET_LOGGERS = {
    "aiosqlite": "every statement with its parameters, at DEBUG",
    "mail": "aiosmtpd: each envelope's addresses at INFO, each SMTP line at DEBUG",
}


def mask_text(text: str) -> str:
    text = CREDENTIALS.sub("***@", text)
    text = EMAIL.sub(lambda m: "***@" + m.group(0).rpartition("@")[2], text)
    return PHONE.sub(_mask_number, text)


def _mask_number(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    if len(digits) < 7:
        return match.group(0)  # a short count, a port, a time: not a number
    return f"{'+' if match.group(0).startswith('+') else ''}***{digits[-2:]}"


class MaskingFilter(logging.Filter):
    """Drops what `QUIET_LOGGERS` say below WARNING; masks the formatted message (and any
    exception text) of every other record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING and _quiet(record.name):
            return False
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        return True


def _quiet(name: str) -> bool:
    return any(name == quiet or name.startswith(quiet + ".") for quiet in QUIET_LOGGERS)


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
