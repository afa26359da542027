"""The event loop a hub process runs on: uvloop where it is installed (Linux, macOS), else
asyncio's own. uvloop runs the socket and timer machinery in C (libuv): the hub spends most
of its time in exactly that, accepting form posts and writing frames to console sockets."""

from __future__ import annotations

import asyncio
import importlib.util

from hub.errors import OperatorMustAct

CHOICES = ("auto", "uvloop", "asyncio")


def new_event_loop(choice: str) -> asyncio.AbstractEventLoop:
    """A new loop of the kind `http.event_loop` names ("auto": uvloop when installed)."""
    if choice not in CHOICES:
        raise OperatorMustAct(f"http.event_loop must be one of {', '.join(CHOICES)}, "
                              f"not {choice!r}")
    if choice == "asyncio" or (choice == "auto" and not uvloop_installed()):
        return asyncio.new_event_loop()
    try:
        import uvloop
    except ImportError as exc:
        raise OperatorMustAct("http.event_loop = \"uvloop\" but uvloop is not installed "
                              "(pip install uvloop)") from exc
    return uvloop.new_event_loop()


def uvloop_installed() -> bool:
    return importlib.util.find_spec("uvloop") is not None
