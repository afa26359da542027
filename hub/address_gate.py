"""How often one client address may knock: a sliding window per address, in this process.

Checked before anything costs a round trip (Redis, the database), so that a flood from one
address is answered 429 at once instead of queueing passengers' work behind it (1,000 chat
handshakes from one address got 503s when the Redis pool ran dry; 30 form posts in a second
were all queued). Loopback is never counted: a health check, a local test, a proxy on this
machine that is not configured as trusted (then every passenger would share its address).
Each process counts its own: with N processes an address gets up to N times the allowance.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque

from hub.client_address import is_loopback

MAX_ADDRESSES = 10_000  # the oldest-seen addresses are forgotten past this many


class AddressGate:
    def __init__(self, allowed: int, per_s: float) -> None:
        self.allowed = allowed
        self.per_s = per_s
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self.refused = 0

    def __repr__(self) -> str:
        return (f"<AddressGate {self.allowed} per {self.per_s:g} s, "
                f"addresses={len(self._seen)} refused={self.refused}>")

    def wait_s(self, address: str) -> int:
        """0 when `address` may go ahead (counted), else the seconds until it may."""
        if self.allowed <= 0 or is_loopback(address):
            return 0
        now = time.monotonic()
        times = self._seen.pop(address, None) or deque()
        while times and times[0] <= now - self.per_s:
            times.popleft()
        self._seen[address] = times
        if len(self._seen) > MAX_ADDRESSES:
            self._seen.popitem(last=False)
        if len(times) >= self.allowed:
            self.refused += 1
            return max(1, math.ceil(times[0] + self.per_s - now))
        times.append(now)
        return 0
