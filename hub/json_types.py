"""The names of JSON that crosses a package boundary untyped by key.

Documents the other side reads by key have TypedDicts of their own (`hub.read_json`, ...);
these three are for the rest: what arrived from a client and must be narrowed before use,
and what is only ever handed to an encoder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

# A JSON value: the reader narrows it (isinstance) before using it as anything. Sequence
# and Mapping, not list and dict: those are invariant, and a list[str] would not be a Json.
Json: TypeAlias = "str | int | float | bool | Sequence[Json] | Mapping[str, Json] | None"

# A JSON object of Json values: a decoded request body, or a small document built for the
# wire whose keys nobody reads (an alert, a chat line, an agent).
JsonObject: TypeAlias = "dict[str, Json]"

# A JSON object that is only encoded, never read by key: an event's payload, an audit
# entry's detail. `object`, not `Json`, so that TypedDict documents fit in it too: mypy
# takes a TypedDict as a Mapping[str, object] but never as a dict[str, Json].
JsonDocument: TypeAlias = Mapping[str, object]
