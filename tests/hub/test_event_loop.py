"""`http.event_loop` picks the loop `serve` runs on; a wrong name stops start-up clearly."""

from __future__ import annotations

import asyncio

import pytest

from hub.errors import OperatorMustAct
from hub.event_loop import new_event_loop, uvloop_installed


@pytest.mark.parametrize("choice", ["auto", "uvloop", "asyncio"])
def test_each_choice_gives_a_loop_that_runs(choice: str) -> None:
    loop = new_event_loop(choice)
    try:
        assert loop.run_until_complete(asyncio.sleep(0, result=42)) == 42
        kind = type(loop).__module__.split(".")[0]
        expected = "asyncio" if choice == "asyncio" or not uvloop_installed() else "uvloop"
        assert kind == expected
    finally:
        loop.close()


def test_an_unknown_loop_is_refused_with_the_choices() -> None:
    with pytest.raises(OperatorMustAct, match="auto, uvloop, asyncio"):
        new_event_loop("trio")
