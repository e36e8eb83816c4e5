"""Throttling and lockout for login, token and MFA attempts (NIST SP 800-63B §5.2.2, OWASP
Authentication Cheat Sheet "Login Throttling", "device cookies").

What is counted, per key:

========  ================================  ==========================================
kind      key                               limit (config)
========  ================================  ==========================================
``acct``  normalised username (any name)    ``throttle_account_free`` free, then back-off;
                                            lock after ``throttle_lockout`` (<= 100)
``ip``    client IP (trusted-proxy aware)   ``throttle_ip_free`` free, then back-off
``dev``   known-device token id             10 free, then back-off; token ignored past 10
``tok``   client IP on ``/token``           ``throttle_token_free`` free, then back-off
``mfa``   user id, wrong one-time codes     ``throttle_mfa_free`` free, then back-off; lock
========  ================================  ==========================================

Back-off doubles from ``throttle_base_delay`` up to ``throttle_max_delay`` and answers 429 with
``Retry-After``. All checks run *before* any password hash, and the attempt is counted before
the hash (given back on success), so a flood cannot buy hashes with concurrency. Keys are
SHA-256 digests of the identifier: the store never holds usernames or addresses in clear.

The store is in-process (:class:`~idgate.throttle.store.MemoryStore`, bounded LRU) or Redis
(``redis_url`` / ``idgate serve --redis URL``) so that limits hold across replicas. Locks live
in the database (:mod:`idgate.throttle.lockouts`), which every node and the CLI share.
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio.to_thread

from idgate.config.schema import Settings
from idgate.errors import InvalidRequest

from .errors import AccountLocked, Throttled
from .store import Decision, FallbackStore, MemoryStore, Policy, RedisStore, Store

if TYPE_CHECKING:
    from idgate.provider import Provider

__all__ = ["ACCOUNT", "DEVICE", "IP", "MFA", "TOKEN", "AccountLocked", "Decision", "MemoryStore", "Policy",
           "RedisStore", "Throttle", "Throttled", "account_name", "build_store", "throttle_for"]

ACCOUNT, IP, DEVICE, TOKEN, MFA = "acct", "ip", "dev", "tok", "mfa"
DEVICE_FREE = 10


def account_name(username: str) -> str:
    """The throttle/lock key of a submitted username: its normalised form when valid, else a
    case-folded copy, so ``Alice`` and ``alice`` share one counter whether or not she exists."""
    from idgate.store.users import normalise_username

    try:
        return normalise_username(username)
    except InvalidRequest:
        return username.strip().casefold()[:128]


def redis_prefix(settings: Settings) -> str:
    """Keys are namespaced by issuer: replicas of one deployment share counters, and two
    deployments that happen to share a Redis do not."""
    return f"idgate:thr:{hashlib.sha256(settings.issuer.encode()).hexdigest()[:12]}:"


def build_store(settings: Settings) -> Store:
    if settings.redis_url:
        return FallbackStore(RedisStore(settings.redis_url, prefix=redis_prefix(settings)),
                             MemoryStore(settings.throttle_memory_entries))
    return MemoryStore(settings.throttle_memory_entries)


def check_redis(settings: Settings) -> None:
    """Fail start-up with the fix when ``redis_url`` is set but Redis does not answer."""
    if not settings.redis_url:
        return
    import redis

    from idgate.errors import ConfigError

    store = RedisStore(settings.redis_url)
    try:
        store.ping()
    except (redis.RedisError, OSError) as exc:
        raise ConfigError(f"Config 'redis_url': Redis does not answer ({type(exc).__name__}); start it, fix the "
                          "URL, or leave redis_url empty for the in-process throttle store.") from None
    finally:
        store.close()


class Throttle:
    def __init__(self, settings: Settings, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store, self.clock = store, clock
        self.lockout = settings.throttle_lockout
        base, top, window = settings.throttle_base_delay, settings.throttle_max_delay, settings.throttle_window
        self.policies = {
            ACCOUNT: Policy(settings.throttle_account_free, base, top, window),
            IP: Policy(settings.throttle_ip_free, base, top, min(window, 3600)),
            DEVICE: Policy(DEVICE_FREE, base, top, window),
            TOKEN: Policy(settings.throttle_token_free, base, top, min(window, 3600)),
            MFA: Policy(settings.throttle_mfa_free, base, top, window),
        }
        self._direct = isinstance(store, MemoryStore)

    @staticmethod
    def key(kind: str, ident: str) -> str:
        return f"{kind}:{hashlib.sha256(ident.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"

    def hit(self, kind: str, ident: str) -> Decision:
        return self.store.hit(self.key(kind, ident), self.policies[kind], self.clock())

    def refund(self, kind: str, ident: str) -> None:
        self.store.refund(self.key(kind, ident))

    def reset(self, kind: str, ident: str) -> None:
        self.store.reset(self.key(kind, ident))

    def peek(self, kind: str, ident: str) -> Decision:
        return self.store.peek(self.key(kind, ident), self.clock())

    # The in-process store is a dict behind a lock: call it on the event loop. Redis is I/O.
    async def ahit(self, kind: str, ident: str) -> Decision:
        if self._direct:
            return self.hit(kind, ident)
        return await anyio.to_thread.run_sync(self.hit, kind, ident)

    async def arefund(self, kind: str, ident: str) -> None:
        if self._direct:
            self.refund(kind, ident)
        else:
            await anyio.to_thread.run_sync(self.refund, kind, ident)

    async def areset(self, kind: str, ident: str) -> None:
        if self._direct:
            self.reset(kind, ident)
        else:
            await anyio.to_thread.run_sync(self.reset, kind, ident)

    def close(self) -> None:
        self.store.close()


_throttles: weakref.WeakKeyDictionary[Provider, Throttle] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def throttle_for(provider: Provider) -> Throttle:
    """The provider's throttle, made on first use from its settings."""
    with _lock:
        found = _throttles.get(provider)
        if found is None:
            found = _throttles[provider] = Throttle(provider.settings, build_store(provider.settings))
        return found


def set_throttle(provider: Provider, throttle: Throttle) -> None:
    """Give a provider a specific throttle (tests: a pinned clock or a Redis store)."""
    with _lock:
        _throttles[provider] = throttle
