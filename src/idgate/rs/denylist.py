"""A ready-made deny-list for services that must see revocation before ``exp`` (off by default).

When idgate runs with ``redis_url``, every access token revoked at ``/revoke`` or ``/logout`` is
published as ``idgate:revoked:<jti>`` with the token's own expiry, so the key vanishes when the
token would have expired anyway. A service passes ``deny_list=RedisDenyList(url)`` to its
``Verifier``. Trade-off: one Redis round trip per token (cached for ``cache_seconds``) in exchange
for revocation that takes effect within that cache time; if Redis cannot be asked, the token is
refused (fail closed), because a revocation check that silently passes is no check.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

REVOKED_PREFIX = "idgate:revoked:"


class RedisDenyList:
    def __init__(self, url: str, *, prefix: str = REVOKED_PREFIX, cache_seconds: float = 1.0,
                 timeout: float = 0.5, max_cached: int = 10_000) -> None:
        import redis  # the `redis` extra; imported here so idgate.rs does not need it otherwise

        self._redis: Any = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._errors = (redis.RedisError, OSError)
        self._prefix, self._ttl, self._max = prefix, cache_seconds, max_cached
        self._cache: OrderedDict[str, tuple[bool, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, jti: str) -> bool:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(jti)
            if hit is not None and now - hit[1] < self._ttl:
                return hit[0]
        try:
            revoked = bool(self._redis.exists(self._prefix + jti))
        except self._errors:
            return True  # fail closed
        with self._lock:
            self._cache[jti] = (revoked, now)
            self._cache.move_to_end(jti)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return revoked

    def close(self) -> None:
        self._redis.close()


def publish_revoked(url: str, jti: str, expires_at: int, *, prefix: str = REVOKED_PREFIX) -> None:
    """Server side: announce a revoked access token until its own expiry."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
    try:
        client.set(prefix + jti, "1", exat=max(int(expires_at), int(time.time()) + 1))
    finally:
        client.close()
