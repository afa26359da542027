"""How a log line is written: `log_format = "text"` (a line for people) or `"json"` (one JSON
object a line, for a log shipper: Loki, Elasticsearch, journald's JSON export).

Either way the masking filter (`hub.log_privacy.MaskingFilter`) runs on the handler before
the formatter: it rewrites the record's message and exception text, so both formats write
the same masked words. A JSON line holds `time` (ISO 8601, UTC), `level`, `logger`,
`message`, `worker` under `serve --workers N`, and `exception` (the traceback) or `stack`
when the record has one.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from hub.log_privacy import mask_text


def formatter(log_format: str, worker: int | None = None) -> logging.Formatter:
    """The formatter of every line the hub writes (`log_format` is checked by settings)."""
    if log_format == "json":
        return JsonFormatter(worker)
    who = "" if worker is None else f"worker {worker} "
    return logging.Formatter(f"%(asctime)s {who}%(levelname)s %(name)s: %(message)s")


class JsonFormatter(logging.Formatter):
    """One record as one JSON object on one line (newlines in a traceback are escaped)."""

    def __init__(self, worker: int | None = None) -> None:
        super().__init__()
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.worker is not None:
            line["worker"] = self.worker
        if record.exc_info and not record.exc_text:
            # Only when no masking filter ran before us (it fills exc_text, masked).
            record.exc_text = mask_text(self.formatException(record.exc_info))
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = mask_text(self.formatStack(record.stack_info))
        return json.dumps(line, ensure_ascii=False, default=str)
