"""The live chat channel: the passenger widget's websocket and the dispatcher's side of it."""

from __future__ import annotations

from channels.chat.channel import ChatChannel

__all__ = ["ChatChannel"]
