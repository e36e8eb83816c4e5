"""Registered clients: the rules for registering them, and their secrets.

Client secrets are 256 random bits (``igs_`` + 43 base64url characters) and only their SHA-256
is stored. A slow password hash (argon2id) exists to make *guessable* secrets expensive to
guess; a 256-bit random secret cannot be guessed at any speed, so SHA-256 protects it just as
well, and a token request stays a microsecond check instead of an attacker-triggerable 50 ms of
CPU. Secrets are compared as hashes with ``hmac.compare_digest`` (constant time).

Redirect URIs are matched exactly, character for character (RFC 9700 §4.1.3): no wildcards,
no prefix or "same host" matching, so there is no open redirect to find. The one exception is
RFC 8252 §7.3: for an ``http`` redirect URI registered on a loopback IP literal (127.0.0.0/8 or
``[::1]``, never the name ``localhost``) the request may name any port; everything else in the
URI must still be the registered text exactly (``redirect_uri_registered``).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, sessionmaker

from idgate import ids
from idgate.config.schema import ACCESS_TTL_CEILING, REFRESH_ABSOLUTE_CEILING, is_loopback_host
from idgate.errors import Conflict, InvalidRequest, NotFound
from idgate.jose.algorithms import ASYMMETRIC_ALGS
from idgate.jose.pubkeys import load_jwks
from idgate.provider import FIRST_PARTY_CLIENT_ID
from idgate.services import refresh_ahead
from idgate.store import clients as repo
from idgate.store.db import transaction
from idgate.store.models_oauth import OAuthClient
from idgate.tokens.access import parse_scope

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
SECRET_PREFIX = "igs_"
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:~-]{1,128}$")
_PRIVATE_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+$")  # reverse-DNS, RFC 8252 §7.1
_PORT = re.compile(r"[1-9][0-9]{0,4}")  # a request's loopback port: decimal, no sign, no leading zero
_FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "blob", "about", "ftp", "ws", "wss"})
MAX_URIS = 20
MAX_URI_LENGTH = 2000


@dataclass(frozen=True)
class ClientView:
    """What the rest of idgate sees of a client: never its secret hash."""

    client_id: str
    name: str
    public: bool
    auth_method: str
    grant_types: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    audiences: tuple[str, ...]
    jwks: dict[str, Any] | None
    introspect: bool
    skip_consent: bool
    access_token_ttl: int | None
    refresh_token_ttl: int | None
    created_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """RFC 7591 §2 metadata names where one exists."""
        return {
            "client_id": self.client_id, "client_name": self.name,
            "client_type": "public" if self.public else "confidential",
            "token_endpoint_auth_method": self.auth_method, "grant_types": list(self.grant_types),
            "response_types": ["code"] if "authorization_code" in self.grant_types else [],
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "scope": " ".join(self.scopes), "audiences": list(self.audiences), "jwks": self.jwks,
            "introspect": self.introspect, "skip_consent": self.skip_consent,
            "access_token_ttl": self.access_token_ttl, "refresh_token_ttl": self.refresh_token_ttl,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


@dataclass
class ClientSpec:
    """A registration request, from the CLI or the admin API."""

    client_id: str
    grant_types: list[str] = field(default_factory=lambda: ["authorization_code", "refresh_token"])
    redirect_uris: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    public: bool = False
    name: str = ""
    auth_method: str | None = None
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    audiences: list[str] = field(default_factory=list)
    jwks: dict[str, Any] | None = None
    introspect: bool = False
    skip_consent: bool = False
    access_token_ttl: int | None = None
    refresh_token_ttl: int | None = None


def view(row: OAuthClient) -> ClientView:
    return ClientView(
        client_id=row.client_id, name=row.name or row.client_id, public=row.public, auth_method=row.auth_method,
        grant_types=tuple(row.grant_types.split()), redirect_uris=tuple(json.loads(row.redirect_uris)),
        post_logout_redirect_uris=tuple(json.loads(row.post_logout_redirect_uris)),
        scopes=tuple(row.scopes.split()), audiences=tuple(json.loads(row.audiences)),
        jwks=json.loads(row.jwks) if row.jwks else None, introspect=row.introspect, skip_consent=row.skip_consent,
        access_token_ttl=row.access_token_ttl, refresh_token_ttl=row.refresh_token_ttl, created_at=row.created_at,
    )


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_matches(stored_hash: str | None, presented: str) -> bool:
    """Constant-time comparison of SHA-256 hashes; a missing hash compares against a dummy."""
    expected = stored_hash or "0" * 64
    return hmac.compare_digest(ids.token_hash(presented), expected) and stored_hash is not None


# -- validation ------------------------------------------------------------------------------


def check_redirect_uri(uri: str, what: str = "redirect URI") -> str:
    """https anywhere; http only on loopback (RFC 8252 §7.3); private-use reverse-DNS schemes for
    native apps (§7.1). Never a fragment, a wildcard, user info or a dangerous scheme."""
    if not isinstance(uri, str) or not uri or len(uri) > MAX_URI_LENGTH or uri != uri.strip():
        raise InvalidRequest(f"Invalid {what}.")
    if "*" in uri or "#" in uri or any(ord(c) < 0x21 or ord(c) > 0x7E for c in uri):
        raise InvalidRequest(f"The {what} {uri!r} must be an exact absolute URI with no wildcard or fragment.")
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in _FORBIDDEN_SCHEMES or not scheme:
        raise InvalidRequest(f"The {what} {uri!r} uses a forbidden scheme.")
    if parts.username or parts.password:
        raise InvalidRequest(f"The {what} {uri!r} must not contain user information.")
    if scheme == "https":
        if not parts.hostname:
            raise InvalidRequest(f"The {what} {uri!r} has no host.")
    elif scheme == "http":
        if not parts.hostname or not is_loopback_host(parts.hostname):
            raise InvalidRequest(f"The {what} {uri!r} is plain http; only loopback addresses may use http.")
    elif not _PRIVATE_SCHEME.fullmatch(scheme):
        raise InvalidRequest(f"The {what} {uri!r} must be https, http on loopback, or a reverse-DNS app scheme.")
    return uri


def _loopback_parts(registered: str) -> tuple[str, str] | None:
    """For ``http://<loopback IP literal>[:port]<rest>``: the text before the port
    (``http://127.0.0.1``) and the text after it (path and query), else None.

    Only IP literals (RFC 8252 §7.3, §8.3): ``localhost`` can be resolved to something else
    and keeps exact matching, as do https and every other scheme."""
    if not registered.startswith("http://"):
        return None
    netloc = urlsplit(registered).netloc
    if not netloc or "@" in netloc or registered[7:7 + len(netloc)] != netloc:
        return None
    if netloc.startswith("["):
        host, sep, port = netloc.partition("]")
        host += sep
        if port and not port.startswith(":"):
            return None
    else:
        host, _, port = netloc.partition(":")
    try:
        address = ipaddress.ip_address(host[1:-1] if host.startswith("[") else host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address != ipaddress.IPv6Address("::1"):  # not ::ffff:127.0.0.1 and friends
            return None
    elif not address.is_loopback:
        return None
    return "http://" + host, registered[7 + len(netloc):]


def redirect_uri_matches(registered: str, requested: str) -> bool:
    """RFC 9700 §4.1.3 exact match, except RFC 8252 §7.3: a loopback IP redirect URI matches with
    any port (or none). The comparison is on the text, not on a parse of the requested URI, so
    user info, a fragment, an extra path or a different host can never slip through."""
    if requested == registered:
        return True
    parts = _loopback_parts(registered)
    if parts is None:
        return False
    head, rest = parts
    if not requested.startswith(head):
        return False
    tail = requested[len(head):]
    if tail == rest:
        return True
    if not tail.startswith(":") or not tail.endswith(rest):
        return False
    port = tail[1:len(tail) - len(rest)]
    return bool(_PORT.fullmatch(port)) and int(port) <= 65535


def redirect_uri_registered(client: ClientView, requested: str) -> bool:
    """Whether ``requested`` may be redirected to for ``client`` (see ``redirect_uri_matches``)."""
    return bool(requested) and any(redirect_uri_matches(r, requested) for r in client.redirect_uris)


def _check_uris(uris: Iterable[str], what: str) -> list[str]:
    result = list(dict.fromkeys(check_redirect_uri(u, what) for u in uris))
    if len(result) > MAX_URIS:
        raise InvalidRequest(f"At most {MAX_URIS} {what}s.")
    return result


def _check_audience(aud: str) -> str:
    parts = urlsplit(aud)
    if not aud or len(aud) > 512 or not parts.scheme or parts.fragment or any(c.isspace() for c in aud):
        raise InvalidRequest(f"Audience {aud!r} must be an absolute URI without a fragment (RFC 8707).")
    return aud


def _check_jwks(jwks: Any) -> dict[str, Any]:
    if not isinstance(jwks, dict) or not load_jwks(jwks, ASYMMETRIC_ALGS):
        raise InvalidRequest("The client JWKS needs at least one public signing key with 'kid' and 'alg' "
                             f"({', '.join(ASYMMETRIC_ALGS)}).")
    if any(isinstance(k, dict) and {"d", "p", "q", "k"} & set(k) for k in jwks.get("keys", [])):
        raise InvalidRequest("The client JWKS must hold public keys only.")
    return jwks


def validate(spec: ClientSpec) -> ClientSpec:
    if not isinstance(spec.client_id, str) or not _CLIENT_ID.fullmatch(spec.client_id):
        raise InvalidRequest("A client id is 1-128 characters of A-Z a-z 0-9 . _ : ~ -.")
    if spec.client_id == FIRST_PARTY_CLIENT_ID:
        raise InvalidRequest(f"The client id {FIRST_PARTY_CLIENT_ID!r} is reserved.")
    grants = list(dict.fromkeys(spec.grant_types))
    unknown = [g for g in grants if g not in GRANT_TYPES]
    if unknown or not grants:
        raise InvalidRequest(f"Grant types are {', '.join(GRANT_TYPES)}; got {', '.join(unknown) or 'none'}.")
    if "refresh_token" in grants and "authorization_code" not in grants:
        raise InvalidRequest("The refresh_token grant comes with authorization_code.")
    method = spec.auth_method or ("none" if spec.public else "private_key_jwt" if spec.jwks else "client_secret_basic")
    if method not in AUTH_METHODS:
        raise InvalidRequest(f"Client authentication methods are {', '.join(AUTH_METHODS)}.")
    if spec.public != (method == "none"):
        raise InvalidRequest("Public clients (and only they) use token_endpoint_auth_method 'none'.")
    if spec.public and "client_credentials" in grants:
        raise InvalidRequest("A public client cannot use client_credentials: it has no credentials.")
    if spec.public and spec.introspect:
        raise InvalidRequest("Only a confidential client may call the introspection endpoint.")
    if method == "private_key_jwt":
        spec.jwks = _check_jwks(spec.jwks)
    elif spec.jwks is not None:
        raise InvalidRequest("A JWKS is only used with token_endpoint_auth_method private_key_jwt.")
    spec.redirect_uris = _check_uris(spec.redirect_uris, "redirect URI")
    if "authorization_code" in grants and not spec.redirect_uris:
        raise InvalidRequest("The authorization_code grant needs at least one --redirect-uri.")
    spec.post_logout_redirect_uris = _check_uris(spec.post_logout_redirect_uris, "post-logout redirect URI")
    scopes: list[str] = []
    for s in spec.scopes:
        scopes.extend(parse_scope(s) or [])
    spec.scopes = list(dict.fromkeys(scopes))
    spec.audiences = list(dict.fromkeys(_check_audience(a) for a in spec.audiences))
    if spec.access_token_ttl is not None and not 0 < spec.access_token_ttl <= ACCESS_TTL_CEILING:
        raise InvalidRequest(f"A client's access-token lifetime is 1..{ACCESS_TTL_CEILING} seconds.")
    if spec.refresh_token_ttl is not None and not 60 <= spec.refresh_token_ttl <= REFRESH_ABSOLUTE_CEILING:
        raise InvalidRequest(f"A client's refresh-token lifetime is 60..{REFRESH_ABSOLUTE_CEILING} seconds.")
    if not isinstance(spec.name, str) or len(spec.name) > 128 or any(ord(c) < 0x20 for c in spec.name):
        raise InvalidRequest("A client name is at most 128 printable characters.")
    spec.grant_types = grants
    spec.auth_method = method
    return spec


# -- operations ------------------------------------------------------------------------------


def add_client(sessions: sessionmaker[Session], spec: ClientSpec) -> tuple[ClientView, str | None]:
    """Register a client; returns it and its secret (shown once), or None for keyless clients."""
    spec = validate(spec)
    secret = new_secret() if spec.auth_method in SECRET_METHODS else None
    row = OAuthClient(
        client_id=spec.client_id, name=spec.name or spec.client_id, public=spec.public,
        secret_hash=ids.token_hash(secret) if secret else None, auth_method=spec.auth_method or "none",
        grant_types=" ".join(spec.grant_types), redirect_uris=json.dumps(spec.redirect_uris),
        post_logout_redirect_uris=json.dumps(spec.post_logout_redirect_uris), scopes=" ".join(spec.scopes),
        audiences=json.dumps(spec.audiences), jwks=json.dumps(spec.jwks) if spec.jwks else None,
        introspect=spec.introspect, skip_consent=spec.skip_consent, access_token_ttl=spec.access_token_ttl,
        refresh_token_ttl=spec.refresh_token_ttl,
    )
    with transaction(sessions) as session:
        if not repo.add_client(session, row):
            raise Conflict(f"Client {spec.client_id!r} already exists.")
        return view(row), secret


def list_clients(sessions: sessionmaker[Session]) -> list[ClientView]:
    with transaction(sessions) as session:
        return [view(r) for r in repo.list_clients(session)]


def get_client(session: Session, client_id: str) -> ClientView | None:
    row = repo.get_client(session, client_id)
    return view(row) if row is not None else None


def find_client(sessions: sessionmaker[Session], client_id: str) -> ClientView | None:
    """Read from the database every time, so a running server sees changes at once."""
    with transaction(sessions) as session:
        return get_client(session, client_id)


def require_client(sessions: sessionmaker[Session], client_id: str) -> ClientView:
    found = find_client(sessions, client_id)
    if found is None:
        raise NotFound(f"No client {client_id!r}.")
    return found


def remove_client(sessions: sessionmaker[Session], client_id: str) -> None:
    """Remove a client: its codes and consents go; its refresh tokens stop working because every
    use checks the client still exists."""
    with transaction(sessions) as session:
        if not repo.delete_client(session, client_id):
            raise NotFound(f"No client {client_id!r}.")


def rotate_secret(sessions: sessionmaker[Session], client_id: str) -> str:
    """A new secret replaces the old one at once (the old one stops working)."""
    with transaction(sessions) as session:
        row = repo.get_client(session, client_id)
        if row is None:
            raise NotFound(f"No client {client_id!r}.")
        if row.auth_method not in SECRET_METHODS:
            raise InvalidRequest(f"Client {client_id!r} uses {row.auth_method}; it has no secret to rotate.")
        secret = new_secret()
        row.secret_hash = ids.token_hash(secret)
        return secret


def check_client_secret(sessions: sessionmaker[Session], client_id: str, presented: str) -> ClientView | None:
    with transaction(sessions) as session:
        row = repo.get_client(session, client_id)
        stored = row.secret_hash if row is not None and row.auth_method in SECRET_METHODS else None
        if not secret_matches(stored, presented) or row is None:
            return None
        return view(row)


# -- the token endpoint's view of the registry ------------------------------------------------


@dataclass(frozen=True)
class CachedClient:
    view: ClientView | None  # None: no such client (remembered too, so a miss is not a query each time)
    secret_hash: str | None
    loaded_at: float


class ClientCache:
    """Registered clients as the token endpoint sees them, each re-read at most ``ttl`` seconds
    after it was last read, so client authentication needs no query per request.

    Bounds: a change made through this server's admin API is seen at once (it calls
    :meth:`invalidate`); one made by the CLI or another node within ``ttl`` (1 s, the same bound
    as signing keys and audiences). A presented secret that does not match the cached hash is
    never refused from the cache: the caller re-reads the row (:meth:`load`), so a secret rotated
    elsewhere starts working at once, while the old one keeps working for at most ``ttl``.
    """

    def __init__(self, sessions: sessionmaker[Session], ttl: float = 1.0, max_entries: int = 10_000) -> None:
        self._sessions, self._ttl, self._max = sessions, ttl, max_entries
        self._entries: dict[str, CachedClient] = {}
        self._lock = threading.Lock()

    def fresh(self, client_id: str) -> CachedClient | None:
        """The cached entry if it is younger than ``ttl``; never touches the database. Past half
        its life the entry is re-read in the background (``refresh_ahead``)."""
        entry = self._entries.get(client_id)
        if entry is None:
            return None
        age = time.monotonic() - entry.loaded_at
        return entry if refresh_ahead.ahead((self, client_id), age, self._ttl, self.load, client_id) else None

    def load(self, client_id: str) -> CachedClient:
        """Read the client from the database (blocking: call it off the event loop)."""
        loaded_at = time.monotonic()
        with transaction(self._sessions) as session:
            row = repo.get_client(session, client_id)
            entry = CachedClient(view(row) if row is not None else None,
                                 row.secret_hash if row is not None else None, loaded_at)
        if client_id and len(client_id) <= 128:
            with self._lock:
                if len(self._entries) >= self._max:  # a flood of made-up ids cannot grow memory
                    self._entries.clear()
                self._entries[client_id] = entry
        return entry

    def invalidate(self, client_id: str | None = None) -> None:
        with self._lock:
            if client_id is None:
                self._entries.clear()
            else:
                self._entries.pop(client_id, None)

    @staticmethod
    def check_secret(entry: CachedClient, presented: str) -> ClientView | None:
        """The client if ``presented`` is its secret (constant-time hash comparison)."""
        stored = entry.secret_hash if entry.view is not None and entry.view.auth_method in SECRET_METHODS else None
        return entry.view if secret_matches(stored, presented) else None
