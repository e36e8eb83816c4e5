"""The state DPoP needs (RFC 9449 §11.1 replay, §8-9 nonces): proof ids already seen, in one
process's memory or in Redis for several, and server nonces that need no shared state."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from idgate.errors import ConfigError, InvalidDpopProof


class ReplayCache(Protocol):
    """Remembers proof ids until they could no longer be accepted anyway."""

    def first_use(self, key: str, iat: float, expires_at: float) -> bool:
        """True the first time ``key`` is seen, False after (a replay)."""
        ...


class MemoryReplayCache:
    """One process's proof ids, bounded in number and in time.

    Entries leave when they expire (no proof that old passes the ``iat`` check any more). When
    the cache is full the oldest entry is dropped early; from then on every proof whose ``iat``
    is not newer than the dropped one's is refused, so a full cache can cost a skewed client a
    retry but can never let a replay through."""

    def __init__(self, max_entries: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        if max_entries < 1:
            raise ConfigError("MemoryReplayCache needs max_entries >= 1.")
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (expires_at, iat)
        self._dropped_iat = -math.inf
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def first_use(self, key: str, iat: float, expires_at: float) -> bool:
        now = self._clock()
        with self._lock:
            entries = self._entries
            while entries:  # entries arrive in about time order: sweep the expired front
                oldest = next(iter(entries.values()))
                if oldest[0] > now:
                    break
                entries.popitem(last=False)
            if key in entries or iat <= self._dropped_iat:
                return False
            while len(entries) >= self.max_entries:
                _, (_, dropped_iat) = entries.popitem(last=False)
                self._dropped_iat = max(self._dropped_iat, dropped_iat)
            entries[key] = (expires_at, iat)
            return True


class RedisReplayCache:
    """Proof ids shared by every process and node through Redis (``SET key NX PXAT``). If Redis
    cannot be asked the proof is refused: a replay check that silently passes is no check."""

    def __init__(self, url: str | None = None, *, client: Any = None, prefix: str = "idgate:dpop:",
                 timeout: float = 0.5) -> None:
        import redis  # the `redis` extra, only needed by deployments that share the cache

        self._redis: Any = client if client is not None else redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._errors = (redis.RedisError, OSError)
        self._prefix = prefix

    def first_use(self, key: str, iat: float, expires_at: float) -> bool:
        try:
            stored = self._redis.set(self._prefix + key, b"1", nx=True, pxat=max(int(expires_at * 1000), 1))
        except self._errors:
            raise InvalidDpopProof("replay_check_unavailable") from None
        return bool(stored)

    def close(self) -> None:
        self._redis.close()


class DpopNonces:
    """Server-provided nonces (RFC 9449 §8, §9) that need no shared state: each is the time step
    and an HMAC of it, so every node holding the same secret issues and accepts the same ones.
    A nonce is accepted during its own step and the next, so it lives 1-2 ``lifetime``s."""

    def __init__(self, secret: bytes, lifetime: int = 300, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 32:
            raise ConfigError("DpopNonces needs a secret of at least 32 bytes.")
        if not 10 <= lifetime <= 86_400:
            raise ConfigError(f"DPoP nonce lifetime is {lifetime}s; use 10..86400 seconds.")
        self._secret = hashlib.sha256(b"idgate dpop nonce\x00" + secret).digest()
        self.lifetime = lifetime
        self._clock = clock

    def _nonce(self, step: int) -> str:
        raw = step.to_bytes(8, "big")
        mac = hmac.new(self._secret, raw, hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(raw + mac).rstrip(b"=").decode()

    def current(self) -> str:
        return self._nonce(int(self._clock() // self.lifetime))

    def is_valid(self, nonce: object) -> bool:
        if not isinstance(nonce, str) or len(nonce) > 64:
            return False
        step = int(self._clock() // self.lifetime)
        return any(hmac.compare_digest(nonce, self._nonce(s)) for s in (step, step - 1))
