"""The thing being audited: its URL, the auditor's options, and cached fetches.

Checks ask the target for what they need (a verified TLS connection, the discovery document,
the JWKS, a sample token); each of these is fetched once and, when unavailable, raises
:class:`~idgate.audit.model.Skip` with the reason, so dependent checks skip instead of failing
for the wrong cause. Every request has a timeout; certificates are always verified.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from idgate import __version__
from idgate.audit.decode import is_jwt
from idgate.audit.model import Skip
from idgate.audit.tlsprobe import Handshake, client_context, handshake

USER_AGENT = f"idgate-audit/{__version__}"
MAX_DOCUMENT_BYTES = 512 * 1024
DISCOVERY_PATHS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")


@dataclass
class AuditOptions:
    url: str
    ca: Path | None = None
    token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    active: bool = False
    protected_url: str | None = None
    expired_token: str | None = None
    wrong_audience_token: str | None = None
    login_page: str | None = None
    http_url: str | None = None
    data: Path | None = None
    timeout: float = 5.0


class Target:
    def __init__(self, options: AuditOptions) -> None:
        self.options = options
        parts = urlsplit(options.url.strip())
        self.scheme = parts.scheme.lower()
        self.host = parts.hostname or ""
        try:
            port = parts.port
        except ValueError:
            port = None
        self.port = port or (443 if self.scheme == "https" else 80)
        path = parts.path.rstrip("/")
        self.discovery_url: str | None = None
        for suffix in DISCOVERY_PATHS:  # told the discovery URL itself
            if path.endswith(suffix):
                self.discovery_url = f"{self.scheme}://{parts.netloc}{path}"
                path = path[: -len(suffix)]
        self.url = f"{self.scheme}://{parts.netloc}{path}"
        self.token_response: httpx.Response | None = None
        self._cache: dict[str, Any] = {}
        self.nonce = secrets.token_hex(6)  # marks the auditor's deliberately wrong credentials

    # -- connections -----------------------------------------------------------------------

    @cached_property
    def http(self) -> httpx.Client:
        return httpx.Client(verify=client_context(self.options.ca), timeout=self.options.timeout,
                            follow_redirects=False, trust_env=False, headers={"User-Agent": USER_AGENT})

    def close(self) -> None:
        if "http" in self.__dict__:
            self.http.close()

    def probe(self, **kw: Any) -> Handshake:
        return handshake(self.host, self.port, ca=self.options.ca, timeout=self.options.timeout, **kw)

    def connection(self) -> Handshake:
        """The first, default handshake (cached)."""
        if "connection" not in self._cache:
            if self.scheme != "https" or not self.host:
                self._cache["connection"] = Handshake(False, error="not an https:// URL")
            else:
                self._cache["connection"] = self.probe()
        result: Handshake = self._cache["connection"]
        return result

    def require_tls(self) -> Handshake:
        """A handshake that worked at least up to the certificate, or Skip."""
        if self.scheme != "https":
            raise Skip(f"{self.url} is not an https:// URL (see transport.https)")
        hs = self.connection()
        if not hs.accepted:
            raise Skip(f"no TLS connection to {self.host}:{self.port}: {hs.error} (see transport.https)")
        return hs

    def require_https(self) -> None:
        """A verified HTTPS connection, or Skip: nothing is sent over an unverified channel."""
        hs = self.require_tls()
        if hs.cert_error:
            raise Skip("the server's certificate is not trusted, so nothing was sent to it (see tls.certificate)")

    def request(self, method: str, url: str, *, plain_http: bool = False, **kw: Any) -> httpx.Response:
        """One request with the audit's timeout; https only (verified), unless ``plain_http``
        is set by a check that deliberately probes a plain-HTTP port."""
        if plain_http:
            if urlsplit(url).scheme != "http":
                raise Skip(f"{url} is not an http:// URL")
        else:
            self.require_https()
            if urlsplit(url).scheme != "https":
                raise Skip(f"{url} is not an https:// URL, so nothing was sent to it")
        return self.http.request(method, url, **kw)

    def remember(self, key: str, compute: Callable[[], Any]) -> Any:
        """Compute once per audit (for results several checks share)."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    # -- documents -------------------------------------------------------------------------

    def get_json(self, url: str) -> tuple[httpx.Response, Any]:
        """GET a JSON document (size-limited); raises Skip saying what went wrong."""
        response = self.request("GET", url, headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise Skip(f"GET {url} answered {response.status_code}")
        if len(response.content) > MAX_DOCUMENT_BYTES:
            raise Skip(f"GET {url} returned more than {MAX_DOCUMENT_BYTES} bytes")
        try:
            return response, response.json()
        except ValueError:
            raise Skip(f"GET {url} did not return JSON") from None

    def discovery(self) -> dict[str, Any]:
        if "discovery" not in self._cache:
            self._cache["discovery"] = self._fetch_discovery()
        found = self._cache["discovery"]
        if isinstance(found, Skip):
            raise found
        return found  # type: ignore[no-any-return]

    def _fetch_discovery(self) -> dict[str, Any] | Skip:
        self.require_https()
        urls = [self.discovery_url] if self.discovery_url else [self.url + p for p in DISCOVERY_PATHS]
        reasons = []
        for url in urls:
            assert url is not None
            try:
                _, doc = self.get_json(url)
            except Skip as exc:
                reasons.append(exc.reason)
                continue
            if isinstance(doc, dict):
                self.discovery_url = url
                return doc
            reasons.append(f"{url} is not a JSON object")
        return Skip("no discovery document: " + "; ".join(reasons))

    def endpoint(self, name: str) -> str | None:
        try:
            value = self.discovery().get(name)
        except Skip:
            return None
        return value if isinstance(value, str) and value else None

    def jwks(self) -> dict[str, Any]:
        if "jwks" not in self._cache:
            try:
                self._cache["jwks"] = self._fetch_jwks()
            except Skip as exc:
                self._cache["jwks"] = exc
        found = self._cache["jwks"]
        if isinstance(found, Skip):
            raise found
        return found  # type: ignore[no-any-return]

    def _fetch_jwks(self) -> dict[str, Any]:
        uri = self.endpoint("jwks_uri")
        if uri is None:
            self.discovery()  # raises the discovery reason if that is the cause
            raise Skip("the discovery document names no jwks_uri")
        if urlsplit(uri).scheme != "https":
            raise Skip(f"jwks_uri {uri} is not HTTPS, so it was not fetched (see jwks.https)")
        _, doc = self.get_json(uri)
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
            raise Skip(f"{uri} is not a JWK Set (no 'keys' list)")
        return doc

    # -- tokens ----------------------------------------------------------------------------

    def sample_token(self) -> str:
        """The token to examine: --token, or one obtained by client credentials."""
        if "token" not in self._cache:
            try:
                self._cache["token"] = self._obtain_token()
            except Skip as exc:
                self._cache["token"] = exc
        found = self._cache["token"]
        if isinstance(found, Skip):
            raise found
        return found  # type: ignore[no-any-return]

    def sample_jwt(self) -> str:
        token = self.sample_token()
        if not is_jwt(token):
            raise Skip("the sample token is not a JWT (an opaque token carries nothing to read)")
        return token

    def _obtain_token(self) -> str:
        if self.options.token:
            return self.options.token.strip()
        if not (self.options.client_id and self.options.client_secret):
            raise Skip("no sample token: pass --token TOKEN, or --client-id and --client-secret")
        doc = self.discovery()
        grants = doc.get("grant_types_supported")
        if isinstance(grants, list) and "client_credentials" not in grants:
            raise Skip("the server does not offer the client_credentials grant; pass --token TOKEN instead")
        endpoint = self.endpoint("token_endpoint")
        if endpoint is None:
            raise Skip("the discovery document names no token_endpoint")
        response = self.request("POST", endpoint, data={"grant_type": "client_credentials"},
                                auth=(self.options.client_id, self.options.client_secret))
        self.token_response = response
        token = response.json().get("access_token") if response.status_code == 200 else None
        if not isinstance(token, str):
            raise Skip(f"the client credentials grant was refused ({response.status_code}); pass --token TOKEN")
        return token
