"""Failed logins slow the guesser down, never lock a dispatcher out.

Three counts of failures, each with its own allowance before a wait sets in, the wait
doubling with every failure past it (capped at MAX_WAIT_S):

- one login from one address: a dispatcher who mistypes,
- one address, any login: password spraying, 30 logins tried from one place,
- one login, any address: one account guessed at from many places.

A dispatch room behind one NAT shares an address: its allowance is wide, and the right
password after a wait is taken (a flat 15-minute lock after 10 failures let one colleague
lock the whole room out). The check reserves the attempt atomically (Lua), so parallel
guesses cannot all slip in during one wait.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis

from hub.keys import Keys

MAX_WAIT_S = 15 * 60
FORGET_AFTER_S = 2 * MAX_WAIT_S  # a count with no failure for this long starts again


@dataclass(frozen=True, slots=True)
class Allowance:
    per_login_and_address: int = 5
    per_address: int = 30
    per_login: int = 20


# KEYS: the three counts. ARGV: now, longest wait, then each count's allowance.
# Returns 0 when the attempt may go ahead (and marks it), else the seconds to wait.
CHECK = """
local now = tonumber(ARGV[1])
local waiting = 0
for i, key in ipairs(KEYS) do
  local n = tonumber(redis.call('HGET', key, 'n') or '0')
  local free = tonumber(ARGV[i + 2])
  if n >= free then
    local wait = math.min(tonumber(ARGV[2]), 2 ^ (n - free))
    local last = tonumber(redis.call('HGET', key, 'last') or '0')
    if now - last < wait then
      waiting = math.max(waiting, math.ceil(wait - (now - last)))
    end
  end
end
if waiting > 0 then return waiting end
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('HSET', key, 'last', now) end
end
return 0
"""

# KEYS: the three counts. ARGV: now, ttl.
FAILED = """
for _, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, 'n', 1)
  redis.call('HSET', key, 'last', ARGV[1])
  redis.call('EXPIRE', key, ARGV[2])
end
return 1
"""


class LoginLimits:
    def __init__(self, redis: Redis, keys: Keys, allowance: Allowance = Allowance()) -> None:
        self._redis = redis
        self._keys = keys
        self._allowance = allowance
        self._check = redis.register_script(CHECK)
        self._failed = redis.register_script(FAILED)

    async def wait_s(self, login: str, address: str) -> int:
        """0: try the password now (the attempt is marked); else the seconds to wait."""
        a = self._allowance
        waiting = await self._check(keys=self._keys.login_failures(login, address), args=[
            time.time(), MAX_WAIT_S, a.per_login_and_address, a.per_address, a.per_login])
        return int(waiting)

    async def first_refusal(self, login: str, address: str, window_s: int) -> bool:
        """True for the first refusal of this login from this address in `window_s`: the
        one the audit trail records (a guesser hammering through a wait writes no more)."""
        fresh = await self._redis.set(self._keys.login_refused(login, address), 1, nx=True,
                                      ex=max(1, window_s))
        return bool(fresh)

    async def failed(self, login: str, address: str) -> None:
        await self._failed(keys=self._keys.login_failures(login, address), args=[time.time(),
                                                                    FORGET_AFTER_S])

    async def succeeded(self, login: str, address: str) -> None:
        """The dispatcher's own mistakes are forgotten; what the address and the login
        collected from others stays until it lapses."""
        await self._redis.delete(self._keys.login_failures(login, address)[0])
