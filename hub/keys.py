"""Every Redis key and stream name the hub uses, built from one configurable prefix.

On a Redis Cluster the prefix carries a hash tag (`{tc}:`): Redis then hashes only the tag,
so every key of the hub lives in one slot and each Lua script, MULTI and multi-key command
touches one slot, as a cluster requires. The hub's keys then share one master; the cluster
spreads other tenants and gives failover, not a split of the hub's own load.
"""

from __future__ import annotations

from dataclasses import dataclass

ROUTER_GROUP = "router"
SENDER_GROUP = "senders"


def webhook_group(endpoint: str) -> str:
    """The consumer group on the events stream through which one webhook endpoint gets its
    events: its own cursor and pending entries, shared by every hub process."""
    return f"webhooks:{endpoint}"


# A publish-once marker must outlive every retry of the same outbox row or stream entry;
# the outbox sweeper retries within minutes, so a day is generous.
PUBLISHED_MARK_TTL_S = 24 * 3600

DEFAULT_PREFIX = "tc:"


def has_hash_tag(prefix: str) -> bool:
    """Whether Redis Cluster hashes keys starting with `prefix` by a tag inside it: the text
    between the first `{` and the next `}`, when not empty (Redis's own rule)."""
    start = prefix.find("{")
    end = prefix.find("}", start + 1) if start >= 0 else -1
    return end > start + 1


def hash_tagged(prefix: str) -> str:
    """`prefix` with a hash tag around its name, unless it has one: "tc:" -> "{tc}:"."""
    if has_hash_tag(prefix):
        return prefix
    name = prefix.removesuffix(":") or DEFAULT_PREFIX.removesuffix(":")
    return "{" + name + "}" + (":" if prefix.endswith(":") or not prefix else "")


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = DEFAULT_PREFIX

    @property
    def inbound(self) -> str:
        """Stream of committed contacts waiting for the router (consumer group `router`)."""
        return f"{self.prefix}stream:inbound"

    @property
    def events(self) -> str:
        """Stream of console events; entry ids are the event ids consoles resume from."""
        return f"{self.prefix}stream:events"

    @property
    def outbound(self) -> str:
        """Stream of deliveries to send now (consumer group `senders`); a wake-up only: the
        deliveries table is the truth, polled for retries and for anything the stream lost."""
        return f"{self.prefix}stream:outbound"

    @property
    def consoles_online(self) -> str:
        """Sorted set of live dispatcher consoles (external users' are not counted)."""
        return f"{self.prefix}consoles-online"

    @property
    def offer_round(self) -> str:
        """Lock held by the one process making offers at a time."""
        return f"{self.prefix}lock:offer-round"

    def router_alive(self, consumer: str) -> str:
        """Set, with a short TTL, while a router consumer is alive (its heartbeat): entries
        held by a consumer without one are taken over at once."""
        return f"{self.prefix}router-alive:{consumer}"

    def router_takeover(self, consumer: str) -> str:
        """Held briefly by the one live process taking over a dead consumer's entries."""
        return f"{self.prefix}lock:router-takeover:{consumer}"

    def webhooks_alive(self, endpoint: str, consumer: str) -> str:
        """Set, with a short TTL, while a process delivers to one webhook endpoint (its
        heartbeat): the events a consumer without one holds are taken over at once."""
        return f"{self.prefix}webhooks-alive:{endpoint}:{consumer}"

    @property
    def purge_lock(self) -> str:
        """Lock held by the one process purging data past its retention."""
        return f"{self.prefix}lock:purge"

    def viewers(self, request_id: str) -> str:
        """Hash of the dispatchers who have one request open: agent id -> name, typing,
        until when."""
        return f"{self.prefix}viewers:{request_id}"

    def presence(self, agent_id: str) -> str:
        """Hash of one dispatcher's presence: chosen state, whether their console was last
        seen live, since when, and when it went."""
        return f"{self.prefix}presence:agent:{agent_id}"

    @property
    def presence_changes(self) -> str:
        """Pub/sub channel of `presence.changed` events, for every process's consoles."""
        return f"{self.prefix}presence:changes"

    @property
    def presence_agents(self) -> str:
        """Set of the agents that have a presence hash (ever opened a console or set one)."""
        return f"{self.prefix}presence:agents"

    def chat_visitor(self, visitor: str) -> str:
        """Pub/sub channel of one chat visitor: wake-ups and typing for their open widgets."""
        return f"{self.prefix}chat:visitor:{visitor}"

    @property
    def chat_visitor_pattern(self) -> str:
        """PSUBSCRIBE pattern matching every chat visitor's channel (the prefix escaped)."""
        escaped = "".join("\\" + ch if ch in "*?[]\\" else ch for ch in self.prefix)
        return f"{escaped}chat:visitor:*"

    def chat_connections(self, address: str) -> str:
        """Sorted set of open widget sockets from one client address, scored by lapse time."""
        return f"{self.prefix}chat:connections:{address}"

    def chat_rate(self, scope: str, who: str) -> str:
        """Sliding-window log of chat messages of one visitor or one address (`scope`)."""
        return f"{self.prefix}chat:rate:{scope}:{who}"

    def chat_closed(self, visitor: str) -> str:
        """When the visitor last closed their chat (unix seconds): history starts after it."""
        return f"{self.prefix}chat:closed:{visitor}"

    def chat_seen(self, delivery_id: str) -> str:
        """Marks a chat reply the widget saw before its sender reported it sent."""
        return f"{self.prefix}chat:seen:{delivery_id}"

    def sms_part_done(self, gateway: str, part_id: str) -> str:
        """A long SMS's part that is in a stored message already: a resend of it is dropped."""
        return f"{self.prefix}sms-part-done:{gateway}:{part_id}"

    def upload(self, request_id: object, digest: str) -> str:
        """A file a dispatcher uploaded for a reply on this request (its name, type, size),
        until the reply sends it or the day is over."""
        return f"{self.prefix}upload:{request_id}:{digest}"

    def published(self, key: str) -> str:
        return f"{self.prefix}published:{key}"

    def login_failures(self, login: str, remote: str) -> list[str]:
        """Failed logins counted three ways (dispatch.login_limits): this login from this
        address, this address whatever the login, this login from anywhere."""
        base = f"{self.prefix}login-failures:"
        return [f"{base}{login}:{remote}", f"{base}address:{remote}", f"{base}login:{login}"]

    def login_refused(self, login: str, remote: str) -> str:
        """Set while a refused login (throttled, or unstorable) from this address is in the
        audit trail already: a flood of refusals is recorded once per wait, not per try."""
        return f"{self.prefix}login-refused:{login}:{remote}"

    def session(self, token_hash: str) -> str:
        return f"{self.prefix}session:{token_hash}"

    def stream(self, name: str) -> str:
        """Map an outbox row's stream name to its Redis key."""
        if name == "inbound":
            return self.inbound
        if name == "events":
            return self.events
        if name == "outbound":
            return self.outbound
        raise ValueError(f"unknown stream {name!r}")
