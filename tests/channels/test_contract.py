"""The one contract every channel adapter satisfies, run over the whole registry."""

from __future__ import annotations

import pytest
from aiohttp import web

from channels.base import CallOriginator, ChannelAdapter
from channels.registry import ADAPTERS, adapter_class, call_originator
from hub.errors import OperatorMustAct
from hub.model import Channel


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_adapter_declares_what_it_is(name: str) -> None:
    cls = ADAPTERS[name]
    assert cls.name == name
    assert isinstance(cls.channel, Channel)
    assert cls.max_body_chars > 0
    assert isinstance(cls.can_reply, bool)
    adapter: ChannelAdapter = cls()
    routes = adapter.routes()  # none for a channel that listens otherwise (SMTP)
    assert all(isinstance(route, web.RouteDef) for route in routes)
    if cls.can_reply:
        assert callable(getattr(adapter, "send", None)), "an adapter that replies sends"
    assert cls.__name__ in repr(adapter)


def test_unknown_channel_fails_start_up_naming_the_known_ones() -> None:
    with pytest.raises(OperatorMustAct) as raised:
        adapter_class("fax")
    message = str(raised.value)
    assert "fax" in message
    for known in ADAPTERS:
        assert known in message


def test_call_back_is_found_by_capability_and_only_the_pbx_has_it() -> None:
    # One adapter at most may answer "call back": dispatch takes the first it finds.
    able = [name for name, cls in ADAPTERS.items() if issubclass(cls, CallOriginator)]
    assert able == ["asterisk_ami"]
    enabled: list[ChannelAdapter] = [cls() for cls in ADAPTERS.values()]
    assert type(call_originator(enabled)) is ADAPTERS["asterisk_ami"]
    assert call_originator([a for a in enabled if a.name != "asterisk_ami"]) is None
