"""The OpenAPI paths of the reports (given to `hub.openapi.routes`)."""

from __future__ import annotations

from typing import Any

from dispatch.report_figures import FIGURES
from dispatch.report_period import (
    DEFAULT_DAYS,
    EARLIEST,
    LATEST,
    MAX_DAYS,
    MAX_SERVICE_LEVEL_S,
    Dimension,
)
from dispatch.reports_csv import REQUEST_COLUMNS

SESSION: list[dict[str, list[str]]] = [{"session": []}]
ERROR = {"description": "error with a reason",
         "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _day(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False,
            "description": f"{description}; from {EARLIEST} to {LATEST}; both or neither "
                           f"(neither: the last {DEFAULT_DAYS} days up to the centre's today)",
            "schema": {"type": "string", "format": "date"}}


PERIOD = [_day("from", "the first local day (the hub's timezone)"),
          _day("to", f"the day after the last: [from, to), at most {MAX_DAYS} days")]
ASK = [*PERIOD,
       {"name": "by", "in": "query", "required": False, "description": "the rows' grouping",
        "schema": {"enum": [d.value for d in Dimension], "default": Dimension.DAY.value}},
       {"name": "service_level_s", "in": "query", "required": False,
        "description": "answered within this many seconds counts for the service level; "
                       "left out: each lane's target wait",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_SERVICE_LEVEL_S}}]
NUMBER = {"type": ["number", "null"]}
FIGURES_SCHEMA: dict[str, Any] = {"type": "object",
                                  "properties": {name: NUMBER for name in FIGURES}}
REFUSALS = {"401": ERROR, "403": {**ERROR, "description": "an external user"},
            "422": {**ERROR, "description": "a parameter is missing or invalid (its reason)"}}


def _csv(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"text/csv": {"schema": {"type": "string"}}}}


PATHS: dict[str, Any] = {
    "/api/v1/reports": {"get": {
        "summary": "figures for the dispatch manager over the requests started in a period, "
                   "grouped by lane, channel, last agent, local hour or day (definitions: "
                   "dispatch/report_figures.py); admins and dispatchers",
        "security": SESSION, "parameters": ASK,
        "responses": {"200": {"description": "rows, totals, first response per channel",
                              "content": {"application/json": {"schema": {
                                  "type": "object", "properties": {
                                      "from": {"type": "string", "format": "date"},
                                      "to": {"type": "string", "format": "date"},
                                      "timezone": {"type": "string"},
                                      "by": {"enum": [d.value for d in Dimension]},
                                      "service_level_s": {"type": ["integer", "null"]},
                                      "lanes": {"type": "object"},
                                      "rows": {"type": "array", "items": {
                                          **FIGURES_SCHEMA, "properties": {
                                              "key": {"type": "string"},
                                              "label": {"type": "string"},
                                              **FIGURES_SCHEMA["properties"]}}},
                                      "totals": FIGURES_SCHEMA,
                                      "first_response_by_channel": {
                                          "type": "object",
                                          "additionalProperties": NUMBER}}}}}},
                      **REFUSALS}}},
    "/api/v1/reports.csv": {"get": {
        "summary": "the same report as CSV, a line per group and the total; a cell that "
                   "would start a formula (=, +, -, @, tab, CR) is prefixed with '",
        "security": SESSION, "parameters": ASK,
        "responses": {"200": _csv("the report"), **REFUSALS}}},
    "/api/v1/reports/requests.csv": {"get": {
        "summary": "each request started in the period with its timings, as CSV: "
                   + ", ".join(REQUEST_COLUMNS) + "; no passenger's personal data",
        "security": SESSION, "parameters": PERIOD,
        "responses": {"200": _csv("the requests' timings"), **REFUSALS}}},
    "/api/v1/wallboard": {"get": {
        "summary": "the wallboard: per lane the requests queued now, the longest wait (s), "
                   "today's contacts, answered and service level (against the lane's target "
                   "wait); the dispatchers available and online; admins and dispatchers",
        "security": SESSION,
        "responses": {"200": {"description": "{at, dispatchers: {available, online}, lanes}",
                              "content": {"application/json": {"schema": {
                                  "type": "object", "properties": {
                                      "at": {"type": "string", "format": "date-time"},
                                      "dispatchers": {"type": "object", "properties": {
                                          "available": {"type": "integer"},
                                          "online": {"type": "integer"}}},
                                      "lanes": {"type": "array", "items": {
                                          "type": "object", "properties": {
                                              "key": {"type": "string"},
                                              "name": {"type": "object"},
                                              "target_wait_s": {"type": "integer"},
                                              "queued": {"type": "integer"},
                                              "longest_wait_s": NUMBER,
                                              "contacts_today": {"type": "integer"},
                                              "answered_today": {"type": "integer"},
                                              "service_level_pct": NUMBER}}}}}}}},
                      "401": ERROR, "403": REFUSALS["403"]}}},
    **{page: {"get": {
        "summary": f"the {page[1:]} page (asks the API who is logged in)",
        "responses": {"200": {"description": "HTML", "content": {"text/html": {
            "schema": {"$ref": "#/components/schemas/Html"}}}}}}}
       for page in ("/reports", "/wallboard")},
}
