"""The AsyncAPI 3.0 document of the two websockets, generated from the catalogue
(`hub.events`): the console's `/api/v1/console/ws` and the chat widget's `/chat/ws`.

Served beside the OpenAPI at /api/asyncapi.json. The event types themselves are the
`StreamEvent` and `PresenceEvent` unions, discriminated by `type`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from hub import events
from hub.records import component_schemas

REF = "#/components/schemas/{name}"

# channel key -> (address, what the hub sends, what the client sends, description)
_CHANNELS: dict[str, tuple[str, dict[str, type[msgspec.Struct]],
                           dict[str, type[msgspec.Struct]], str]] = {
    "console": (
        "/api/v1/console/ws", events.CONSOLE_SERVER_FRAMES,
        {events.tag_of(events.ConsolePing): events.ConsolePing},
        "The dispatcher console's feed (session cookie; ?last_event_id= resumes after that "
        "event). `presence` frames only with the subprotocol taxiconnect.presence; events "
        "on requests held by others are not sent to external users."),
    "chat": (
        "/chat/ws", events.CHAT_SERVER_FRAMES, events.CHAT_CLIENT_FRAMES,
        "The passenger chat widget. The widget sends `hello` first; close codes: 1003 "
        "binary, 1009 too big, 4400 malformed, 4408 no hello, 4429 over the rate, 1011 "
        "store failed, 1012 restart."),
}


def document() -> dict[str, Any]:
    every: list[Any] = [events.StreamEvent, events.PresenceEvent]
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for key, (address, sent, received, description) in _CHANNELS.items():
        names: dict[str, Any] = {}
        for direction, frames in (("send", sent), ("receive", received)):
            refs = []
            for tag, struct in frames.items():
                every.append(struct)
                name = struct.__name__
                messages[name] = {"name": tag, "title": f"{key} {tag}",
                                  "summary": (struct.__doc__ or "").strip() or None,
                                  "payload": {"$ref": REF.format(name=name)}}
                messages[name] = {k: v for k, v in messages[name].items() if v is not None}
                names[name] = {"$ref": f"#/components/messages/{name}"}
                refs.append({"$ref": f"#/channels/{key}/messages/{name}"})
            operations[f"{key}_{direction}"] = {
                "action": direction, "channel": {"$ref": f"#/channels/{key}"},
                "summary": f"frames the hub {'sends' if direction == 'send' else 'receives'}",
                "messages": refs}
        channels[key] = {"address": address, "description": description, "messages": names}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "TaxiConnect hub websockets", "version": "1",
                 "description": "Console events: " + ", ".join(sorted(events.EVENTS))},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages,
                       "schemas": component_schemas(*every, ref_template=REF)},
    }
