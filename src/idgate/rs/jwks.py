"""Where the verifier's keys come from, and how long it keeps them.

Three sources: a static JWK Set, a zero-argument callable returning one (the server verifying
its own tokens in-process), or the issuer's ``jwks_uri`` over HTTPS. Keys are cached; an
unknown ``kid`` triggers at most one refetch per ``min_refetch_interval``, so forged kids
cannot make the verifier hammer the issuer, while a key rotation is picked up without a
restart. One lock serialises refreshes; readers never wait for it.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable, Collection, Mapping
from typing import Any

from idgate.errors import ConfigError, InvalidToken
from idgate.jose.pubkeys import VerifyKey, load_jwks
from idgate.rs.fetch import FetchError, discover_jwks_uri, get_json, tls_context

log = logging.getLogger("idgate.rs")

JwksProvider = Callable[[], Mapping[str, Any]]
PROVIDER_MAX_AGE = 1


LOOKUP_RESULTS = ("hit", "refetched", "unknown")


class KeySource:
    """Verification keys by ``kid``: cached, refetched when the cache expires or a token names a
    ``kid`` it does not hold (at most once per ``min_refetch_interval``).

    ``lookups`` counts each result of :meth:`get`: ``hit`` (answered from the cache),
    ``refetched`` (found after fetching the JWKS again), ``unknown`` (no such key even then);
    ``fetches`` and ``fetch_errors`` count JWKS loads. ``on_lookup``, when given, is called with
    the result of every lookup (how a service exports them to its own metrics).
    """

    def __init__(
        self,
        *,
        issuer: str,
        jwks_uri: str | None,
        jwks: Mapping[str, Any] | JwksProvider | None,
        ca: str | None,
        algorithms: Collection[str],
        allow_symmetric: bool,
        http_timeout: float,
        min_refetch_interval: float,
        clock: Callable[[], float],
        on_lookup: Callable[[str], None] | None = None,
    ) -> None:
        self.lookups = dict.fromkeys(LOOKUP_RESULTS, 0)
        self.fetches = 0
        self.fetch_errors = 0
        self._on_lookup = on_lookup
        self._issuer = issuer
        self._jwks_uri = jwks_uri
        self._algorithms = tuple(algorithms)
        self._allow_symmetric = allow_symmetric
        self._timeout = http_timeout
        self._min_interval = min_refetch_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, VerifyKey] = {}
        self._expires_at = float("-inf")
        self._last_attempt = float("-inf")
        self._loaded = False  # True once any JWKS (even an empty one) was fetched
        self._provider: JwksProvider | None = None
        self._tls: ssl.SSLContext | None = None
        if callable(jwks):
            self._provider = jwks
        elif jwks is not None:
            self._keys = load_jwks(jwks, self._algorithms, allow_symmetric=allow_symmetric)
            if not self._keys:
                raise ConfigError("The static JWKS holds no usable verification key for the allowed algorithms.")
            self._expires_at = float("inf")  # static: never refetched
        else:
            try:
                self._tls = tls_context(ca)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"Cannot load the CA bundle {ca!r}: {exc}") from exc

    def get(self, kid: str) -> VerifyKey | None:
        now = self._clock()
        if now >= self._expires_at:
            self._refresh(now, due=True)
        key = self._keys.get(kid)
        result = "hit"
        if key is None and self._expires_at != float("inf"):
            self._refresh(now, due=False)
            key = self._keys.get(kid)
            result = "refetched" if key is not None else "unknown"
        elif key is None:
            result = "unknown"
        self.lookups[result] += 1  # a monitoring count: a rare lost increment under threads is fine
        if self._on_lookup is not None:
            self._on_lookup(result)
        return key

    def _refresh(self, now: float, *, due: bool) -> None:
        with self._lock:
            # Another thread may have refreshed while we waited, and attempts (successful or
            # not) are spaced by min_refetch_interval whatever triggered them.
            if due and now < self._expires_at:
                return
            if now - self._last_attempt < self._min_interval:
                if not self._loaded:
                    raise InvalidToken("jwks_unavailable")
                return
            self._last_attempt = now
            try:
                jwks, lifetime = self._load()
                self.fetches += 1
            except (FetchError, ConfigError) as exc:
                self.fetch_errors += 1
                log.warning("idgate.rs: could not refresh the JWKS (%s); keeping %d cached keys", exc, len(self._keys))
                self._expires_at = now + self._min_interval
                if not self._loaded:
                    raise InvalidToken("jwks_unavailable") from None
                return
            self._keys = load_jwks(jwks, self._algorithms, allow_symmetric=self._allow_symmetric)
            self._loaded = True
            self._expires_at = now + lifetime

    def _load(self) -> tuple[Mapping[str, Any], int]:
        if self._provider is not None:
            try:
                jwks = self._provider()
            except Exception as exc:  # the provider is the application's code: contain it
                raise FetchError(f"JWKS provider failed: {exc!r}") from exc
            # In-process providers are cheap to call; re-reading each second means a revoked or
            # retired key stops verifying within a second, not after a JWKS max-age.
            return jwks, PROVIDER_MAX_AGE
        if self._tls is None:  # pragma: no cover - set in __init__ for every remote source
            raise FetchError("no TLS context")
        if self._jwks_uri is None:
            self._jwks_uri = discover_jwks_uri(self._issuer, tls=self._tls, timeout=self._timeout)
        return get_json(self._jwks_uri, tls=self._tls, timeout=self._timeout)
