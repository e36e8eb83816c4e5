"""Throttle counters: one atomic "check, then count this attempt" operation per key.

Each key (an account, a client IP, a known device...) holds ``failures`` (consecutive failed
attempts, the pending one included) and ``next_at`` (the earliest time the next attempt is
allowed). :meth:`hit` is atomic: it refuses while ``now < next_at`` *without* counting, and
otherwise counts the attempt and moves ``next_at`` forward by the back-off delay. Counting
before the password is checked (and taking the count back on success) means a thousand
concurrent requests cannot all slip through before the first failure is recorded.

Two stores with the same behaviour:

* :class:`MemoryStore` - one process; an LRU dict capped at ``max_entries`` so a flood of new
  usernames or addresses cannot grow memory without bound (the oldest idle counters go first).
* :class:`RedisStore` - several processes or machines; one Lua script per operation, so the
  check-and-count is atomic on the Redis server and limits hold across replicas.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("idgate.throttle")


@dataclass(frozen=True)
class Policy:
    """Exponential back-off: the first ``free`` failures cost nothing, then ``base`` seconds,
    doubling per further failure up to ``max_delay``. Counters idle for ``window`` are dropped."""

    free: int
    base: float
    max_delay: float
    window: int

    def delay(self, failures: int) -> float:
        if failures <= self.free:
            return 0.0
        exponent = min(failures - self.free - 1, 40)  # 2**40 s is far past any max_delay
        return float(min(self.max_delay, self.base * (2**exponent)))


@dataclass(frozen=True)
class Decision:
    allowed: bool
    failures: int  # consecutive failures counted so far (including this attempt when allowed)
    retry_after: float  # seconds until the next attempt is allowed (0 if it is allowed now)


class Store(Protocol):
    def hit(self, key: str, policy: Policy, now: float) -> Decision: ...
    def refund(self, key: str) -> None: ...
    def reset(self, key: str) -> None: ...
    def peek(self, key: str, now: float) -> Decision: ...
    def close(self) -> None: ...


@dataclass
class _Entry:
    failures: int
    next_at: float
    expires_at: float


class MemoryStore:
    """In-process counters with a hard cap on entries (least recently used evicted first)."""

    name = "memory"

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at <= now:
            del self._entries[key]
            return None
        return entry

    def hit(self, key: str, policy: Policy, now: float) -> Decision:
        with self._lock:
            entry = self._live(key, now)
            if entry is not None and now < entry.next_at:
                self._entries.move_to_end(key)
                return Decision(False, entry.failures, entry.next_at - now)
            failures = (entry.failures if entry else 0) + 1
            delay = policy.delay(failures)
            # Only a delay moves next_at. Setting it to "now" on a free attempt would refuse a
            # concurrent attempt that read the clock a moment earlier (another thread, or another
            # node whose clock is a few ms behind): a spurious 429 under no attack at all.
            next_at = now + delay if delay > 0 else (entry.next_at if entry else 0.0)
            self._entries[key] = _Entry(failures, next_at, now + max(policy.window, delay))
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
                self.evictions += 1
            return Decision(True, failures, 0.0)

    def refund(self, key: str) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.failures = max(0, entry.failures - 1)

    def reset(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def peek(self, key: str, now: float) -> Decision:
        with self._lock:
            entry = self._live(key, now)
        if entry is None:
            return Decision(True, 0, 0.0)
        return Decision(now >= entry.next_at, entry.failures, max(0.0, entry.next_at - now))

    def close(self) -> None:
        pass


# KEYS[1]; ARGV: now, free, base, max_delay, window. Returns {allowed, failures, retry_after}.
_HIT = """
local v = redis.call('HMGET', KEYS[1], 'f', 'n')
local f = tonumber(v[1]) or 0
local n = tonumber(v[2]) or 0
local now = tonumber(ARGV[1])
if now < n then
  return {0, f, tostring(n - now)}
end
f = f + 1
local d = 0
local free = tonumber(ARGV[2])
if f > free then
  d = math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * 2 ^ math.min(f - free - 1, 40))
end
if d > 0 then n = now + d end  -- a free attempt leaves n alone (see MemoryStore.hit)
redis.call('HSET', KEYS[1], 'f', f, 'n', tostring(n))
redis.call('EXPIRE', KEYS[1], math.ceil(math.max(tonumber(ARGV[5]), d)))
return {1, f, '0'}
"""
_REFUND = """
local f = tonumber(redis.call('HGET', KEYS[1], 'f') or '0')
if f > 0 then redis.call('HSET', KEYS[1], 'f', f - 1) end
return f
"""


class RedisStore:
    """Counters in Redis, one hash per key, updated by Lua scripts (atomic on the server)."""

    name = "redis"

    def __init__(self, url: str, *, prefix: str = "idgate:thr:", client: Any = None) -> None:
        import redis

        self.prefix = prefix
        self._redis = client if client is not None else redis.Redis.from_url(
            url, socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=30)
        self._hit = self._redis.register_script(_HIT)
        self._refund = self._redis.register_script(_REFUND)

    def hit(self, key: str, policy: Policy, now: float) -> Decision:
        allowed, failures, retry = self._hit(keys=[self.prefix + key],
                                             args=[repr(now), policy.free, repr(float(policy.base)),
                                                   repr(float(policy.max_delay)), policy.window])
        return Decision(bool(allowed), int(failures), max(0.0, float(retry)))

    def refund(self, key: str) -> None:
        self._refund(keys=[self.prefix + key])

    def reset(self, key: str) -> None:
        self._redis.delete(self.prefix + key)

    def peek(self, key: str, now: float) -> Decision:
        f, n = self._redis.hmget(self.prefix + key, "f", "n")
        failures, next_at = int(f or 0), float(n or 0)
        return Decision(now >= next_at, failures, max(0.0, next_at - now))

    def ping(self) -> bool:
        return bool(self._redis.ping())

    def close(self) -> None:
        self._redis.close()


class FallbackStore:
    """Redis with an in-process fallback: if Redis cannot be reached, limits still apply (per
    process) instead of failing open, and an error is logged once per minute."""

    def __init__(self, primary: RedisStore, fallback: MemoryStore) -> None:
        self.primary, self.fallback = primary, fallback
        self.name = "redis"
        self._warned = 0.0

    def _run(self, op: str, *args: Any) -> Any:
        import redis

        try:
            return getattr(self.primary, op)(*args)
        except (redis.RedisError, OSError) as exc:
            now = time.monotonic()
            if now - self._warned > 60:
                self._warned = now
                log.error('{"event": "throttle_store_unavailable", "store": "redis", "error": "%s"}',
                          type(exc).__name__)
            return getattr(self.fallback, op)(*args)

    def hit(self, key: str, policy: Policy, now: float) -> Decision:
        return self._run("hit", key, policy, now)  # type: ignore[no-any-return]

    def refund(self, key: str) -> None:
        self._run("refund", key)

    def reset(self, key: str) -> None:
        self._run("reset", key)
        self.fallback.reset(key)

    def peek(self, key: str, now: float) -> Decision:
        return self._run("peek", key, now)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.primary.close()
