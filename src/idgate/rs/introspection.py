"""A deny-list that asks idgate itself, by token introspection (RFC 7662; off by default).

For services that must see revocation before ``exp`` but have no Redis shared with idgate. A
service registers a confidential client allowed to introspect (``idgate client add rs
--grant client_credentials --introspect``) and passes ``deny_list=IntrospectionDenyList(
issuer, client_id=..., client_secret=..., ca=...)`` to its ``Verifier``; the endpoint is found by
discovery (``introspection_endpoint``) unless ``introspection_endpoint=`` is given. The
verifier consults it only after every other check passed, handing it the ``jti`` and the
signed token (introspection needs the token itself; the inner JWS of an encrypted token).

Trade-off: one introspection call (an HTTPS round trip plus a client authentication at idgate)
per token per ``cache_seconds``, in exchange for revocation that takes effect within that time.
The service's availability becomes coupled to idgate's: if idgate cannot be asked (down, slow
beyond ``timeout``, refusing the credentials, an untrusted certificate, a malformed answer), the
token is refused with ``InvalidToken("revocation_check_unavailable")`` (fail closed), because a
revocation check that silently passes is no check. :class:`~idgate.rs.RedisDenyList` costs a
Redis round trip instead and keeps working while idgate is down; plain ``exp`` (no deny-list)
costs nothing and sees revocation only when the token expires.

Only answers are cached, never tokens: ``jti`` -> (revoked, trusted until), at most
``max_cached`` entries, the oldest dropped first. One HTTPS connection is kept alive between
calls; ``close()`` (or ``with``) releases it.
"""

from __future__ import annotations

import base64
import ssl
import threading
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import quote_plus

import httpx

from idgate.errors import ConfigError, InvalidToken
from idgate.jose.verify import parse_json_object
from idgate.rs.fetch import MAX_RESPONSE_BYTES, FetchError, get_json, require_https, tls_context

UNAVAILABLE = "revocation_check_unavailable"
MAX_TIMEOUT = 30.0
MAX_CACHE_SECONDS = 300.0


class IntrospectionDenyList:
    wants_token = True  # the Verifier calls deny_list(jti, token) for deny-lists that declare this

    def __init__(self, issuer: str | None = None, *, client_id: str, client_secret: str,
                 introspection_endpoint: str | None = None, ca: str | None = None, timeout: float = 3.0,
                 cache_seconds: float = 10.0, max_cached: int = 10_000) -> None:
        if introspection_endpoint is None and issuer is None:
            raise ConfigError("IntrospectionDenyList needs the issuer or the introspection_endpoint.")
        if introspection_endpoint is not None:
            require_https(introspection_endpoint, "introspection_endpoint")
        if issuer is not None:
            require_https(issuer, "issuer")
        if not client_id or not client_secret:
            raise ConfigError("IntrospectionDenyList needs the client_id and client_secret of a client "
                              "registered with --introspect.")
        if not 0 < timeout <= MAX_TIMEOUT:
            raise ConfigError(f"IntrospectionDenyList timeout must be within (0, {MAX_TIMEOUT:g}] seconds.")
        if not 0 <= cache_seconds <= MAX_CACHE_SECONDS:
            raise ConfigError(f"IntrospectionDenyList cache_seconds must be within 0..{MAX_CACHE_SECONDS:g}.")
        if max_cached < 1:
            raise ConfigError("IntrospectionDenyList max_cached must be at least 1.")
        try:
            self._tls = tls_context(ca)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"Cannot load the CA bundle {ca!r}: {exc}") from exc
        self._issuer, self._endpoint, self._timeout = issuer, introspection_endpoint, timeout
        self._ttl, self._max = cache_seconds, max_cached
        # RFC 6749 §2.3.1: id and secret are form-encoded before Basic encoding.
        pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode()
        self._auth = "Basic " + base64.b64encode(pair).decode()
        self._http = httpx.Client(verify=self._tls, timeout=timeout, follow_redirects=False, trust_env=False)
        self._cache: OrderedDict[str, tuple[bool, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, jti: str, token: str) -> bool:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(jti)
            if hit is not None and now < hit[1]:
                return hit[0]
        try:
            revoked = not self._active(token)
        except Exception as exc:  # any failure to get an answer is no answer: fail closed
            raise InvalidToken(UNAVAILABLE) from exc
        with self._lock:
            self._cache[jti] = (revoked, now + self._ttl)
            self._cache.move_to_end(jti)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return revoked

    def _active(self, token: str) -> bool:
        endpoint = self._endpoint or self._discover()
        with self._http.stream("POST", endpoint, data={"token": token, "token_type_hint": "access_token"},
                               headers={"Authorization": self._auth, "Accept": "application/json"}) as response:
            if response.status_code != 200:
                raise FetchError(f"{endpoint} answered {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise FetchError(f"{endpoint} answered more than {MAX_RESPONSE_BYTES} bytes")
        active = parse_json_object(bytes(body)).get("active")
        if not isinstance(active, bool):
            raise FetchError(f"{endpoint} answered without a boolean 'active'")
        return active

    def _discover(self) -> str:
        """OIDC Discovery §4.3: the document's ``issuer`` must equal ours; https only."""
        assert self._issuer is not None  # checked in __init__
        metadata, _ = get_json(self._issuer.rstrip("/") + "/.well-known/openid-configuration",
                               tls=self._tls, timeout=self._timeout)
        endpoint = metadata.get("introspection_endpoint")
        if metadata.get("issuer") != self._issuer or not isinstance(endpoint, str):
            raise FetchError("discovery document names another issuer or no introspection_endpoint")
        self._endpoint = require_https(endpoint, "introspection_endpoint")
        return self._endpoint

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> IntrospectionDenyList:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
