"""The address a request really came from, also behind the operator's reverse proxies."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

from aiohttp import web

from hub.errors import OperatorMustAct

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(texts: Iterable[str]) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(text.strip(), strict=False) for text in texts)
    except ValueError as exc:
        raise OperatorMustAct(f"http.trusted_proxies: {exc}") from exc


def client_address(request: web.Request, trusted: tuple[Network, ...]) -> str:
    """The peer address; when the peer is one of the `trusted` proxies, the nearest address
    in X-Forwarded-For that is not (what a client writes there itself is never believed)."""
    remote = request.remote or ""
    if not trusted or not _within(remote, trusted):
        return remote
    hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _within(hop, trusted):
            return hop
    return remote


@functools.lru_cache(maxsize=4096)
def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8 and ::1. Asked on every request (the address gate, /metrics), so
    the parse is cached: a passenger's address repeats for the whole of their visit."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _within(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
