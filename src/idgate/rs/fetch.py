"""Fetching the issuer's metadata and JWK Set over HTTPS (RFC 8414 §3, OIDC Discovery §4).

Bounded in every direction: https only, no redirects, a timeout, a response-size cap, and a
CA bundle that is passed explicitly rather than read from the environment.
"""

from __future__ import annotations

import re
import ssl
from typing import Any
from urllib.parse import urlsplit

import httpx

from idgate.errors import ConfigError
from idgate.jose.verify import parse_json_object

MAX_RESPONSE_BYTES = 256 * 1024
DEFAULT_MAX_AGE = 300
MIN_MAX_AGE = 60
MAX_MAX_AGE = 86400
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.IGNORECASE)


class FetchError(Exception):
    """The document could not be fetched or is not a JSON object."""


def require_https(url: str, what: str) -> str:
    """Keys fetched over plain HTTP are keys anyone on the path can replace: refuse them."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(f"{what} must be an https:// URL, got {url!r}.")
    return url


def require_public_url(url: str) -> str:
    """A service's own public URL, the one DPoP proofs name: https, or http on a loopback host
    (a service on a developer's machine); never with a query or fragment."""
    parts = urlsplit(url) if isinstance(url, str) else None
    loopback = parts is not None and parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts is None or not parts.hostname or parts.query or parts.fragment or not (parts.scheme == "https" or loopback):
        raise ConfigError(f"public_url must be this service's https:// URL (http:// on a loopback host), got {url!r}.")
    return url


def cache_lifetime(cache_control: str | None) -> int:
    """Seconds to keep a JWK Set: its max-age, clamped to [60 s, 24 h]; 300 s if absent.

    The floor keeps ``no-cache`` or ``max-age=0`` from turning every request into a fetch.
    """
    match = _MAX_AGE.search(cache_control or "")
    age = int(match.group(1)) if match else DEFAULT_MAX_AGE
    return max(MIN_MAX_AGE, min(MAX_MAX_AGE, age))


def tls_context(ca: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()


def get_json(url: str, *, tls: ssl.SSLContext, timeout: float) -> tuple[dict[str, Any], int]:
    """GET a JSON object; returns (document, cache lifetime in seconds)."""
    try:
        with httpx.Client(verify=tls, timeout=timeout, follow_redirects=False, trust_env=False) as client:
            with client.stream("GET", url, headers={"Accept": "application/json"}) as response:
                if response.status_code != 200:
                    raise FetchError(f"{url} answered {response.status_code}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise FetchError(f"{url} is larger than {MAX_RESPONSE_BYTES} bytes")
                lifetime = cache_lifetime(response.headers.get("cache-control"))
    except httpx.HTTPError as exc:
        raise FetchError(f"{url}: {exc}") from exc
    try:
        return parse_json_object(bytes(body)), lifetime
    except ValueError as exc:
        raise FetchError(f"{url} is not a JSON object") from exc


def discover_jwks_uri(issuer: str, *, tls: ssl.SSLContext, timeout: float) -> str:
    """OIDC Discovery §4.3 / RFC 8414 §3.3: the document's ``issuer`` MUST equal ours."""
    metadata, _ = get_json(issuer.rstrip("/") + "/.well-known/openid-configuration", tls=tls, timeout=timeout)
    if metadata.get("issuer") != issuer:
        raise FetchError("discovery document names a different issuer")
    jwks_uri = metadata.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise FetchError("discovery document has no jwks_uri")
    try:
        return require_https(jwks_uri, "jwks_uri")
    except ConfigError as exc:
        raise FetchError(str(exc)) from exc
