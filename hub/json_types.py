"""The names of JSON that crosses a package boundary untyped by key.

Documents the other side reads by key have TypedDicts of their own (`hub.read_json`, ...);
these three are for the rest: what arrived from a client and must be narrowed before use,
and what is only ever handed to an encoder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

# A decoded JSON value: the reader narrows it (isinstance) before using it as anything.
Json: TypeAlias = "str | int | float | bool | list[Json] | dict[str, Json] | None"

# A decoded JSON object: a request body, a gateway's payload.
JsonObject: TypeAlias = "dict[str, Json]"

# A JSON object that is only encoded, never read by key: an event's payload, an audit
# entry's detail. `object`, not `Json`, so that TypedDict documents fit in it too: mypy
# takes a TypedDict as a Mapping[str, object] but never as a dict[str, Json].
JsonDocument: TypeAlias = Mapping[str, object]
