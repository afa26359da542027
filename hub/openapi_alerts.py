"""The OpenAPI path of channel alerts (given to `hub.openapi.routes`)."""

from __future__ import annotations

from typing import Any

from hub.openapi_lanes import ADMIN, SESSION, _ok

PATHS: dict[str, Any] = {
    "/api/v1/alerts": {"get": {
        "summary": "the channel alerts raised now (admins only): per alert the adapter, its "
                   "channel, the kind (down: its link is down; failing: its last deliveries "
                   "all failed; quiet: no inbound contact within its window) and since when. "
                   "Each change is also a `channel.alert` console event",
        "security": SESSION,
        "responses": {"200": _ok("{at, alerts: [{adapter, channel, kind down|failing|quiet, "
                                 "since}]}", "AlertList"), **ADMIN}}},
}
