"""Client authentication at the token and introspection endpoints (RFC 6749 §2.3, RFC 7523).

Methods: ``client_secret_basic`` (RFC 6749 §2.3.1, HTTP Basic with form-encoded id and secret),
``client_secret_post`` (the same two values in the body), ``private_key_jwt`` (RFC 7523 §2.2,
a JWT signed with a key from the client's registered JWKS, each ``jti`` accepted once) and
``none`` for public clients (``client_id`` only; they must use PKCE). A request may use only one
method (§2.3). Every failure is the same ``invalid_client``; the reason goes to the log only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from datetime import timedelta
from typing import Any
from urllib.parse import unquote_plus

from idgate import clock
from idgate.errors import InvalidClient, InvalidRequest, InvalidToken
from idgate.jose.algorithms import ASYMMETRIC_ALGS
from idgate.jose.pubkeys import load_jwks
from idgate.jose.verify import parse_claims, split_compact, decode_segment, verify_compact
from idgate.provider import Provider
from idgate.services.clients.cache import ClientCache
from idgate.services.clients.registry import get_client
from idgate.services.clients.view import ClientView
from idgate.store import clients as repo
from idgate.store.db import transaction

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 3660  # an assertion valid for more than an hour is refused (Authlib uses 1 h)
LEEWAY = 30


def _basic(header: str | None) -> tuple[str, str] | None:
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient(detail="malformed basic header") from None
    client_id, sep, secret = decoded.partition(":")
    # RFC 6749 §2.3.1: both parts are application/x-www-form-urlencoded before base64.
    client_id, secret = unquote_plus(client_id), unquote_plus(secret)
    if not sep or "\x00" in client_id or "\x00" in secret:  # a NUL reaches no database column
        raise InvalidClient(detail="malformed basic header")
    return client_id, secret


def _secret_credentials(params: dict[str, str], authorization: str | None) -> tuple[str, str, str] | None:
    """``(client_id, secret, method)`` of a secret-based method, None for the others; refuses a
    request that uses more than one method (RFC 6749 §2.3)."""
    basic = _basic(authorization)
    has_secret = "client_secret" in params
    has_assertion = "client_assertion" in params or "client_assertion_type" in params
    if sum((basic is not None, has_secret, has_assertion)) > 1:
        raise InvalidRequest("Use exactly one client authentication method.")
    if basic is not None:
        client_id, secret = basic
        if params.get("client_id") not in (None, client_id):
            raise InvalidClient(detail="client_id differs from the basic credentials")
        return client_id, secret, "client_secret_basic"
    if has_secret:
        return params.get("client_id", ""), params["client_secret"], "client_secret_post"
    return None


def authenticate_from_cache(provider: Provider, params: dict[str, str], authorization: str | None) -> ClientView | None:
    """The client, authenticated by its secret against the client cache alone (no I/O, so the
    event loop may call it). None when the cache cannot say yes - another method, an entry not
    cached or too old, or a secret that does not match (perhaps rotated since it was cached) -
    and then :func:`authenticate_client` decides from the database. Malformed or ambiguous
    credentials are refused here already."""
    credentials = _secret_credentials(params, authorization)
    if credentials is None or not credentials[0] or not credentials[1]:
        return None
    client_id, secret, _ = credentials
    entry = provider.clients.fresh(client_id)
    return ClientCache.check_secret(entry, secret) if entry is not None else None


def authenticate_client(provider: Provider, params: dict[str, str], authorization: str | None,
                        audiences: tuple[str, ...]) -> ClientView | None:
    """The authenticated client, or None when the request names no registered client (idgate's
    own first-party refresh requests). ``audiences``: acceptable ``aud`` of an assertion."""
    credentials = _secret_credentials(params, authorization)
    if credentials is not None:
        return _by_secret(provider, *credentials)
    has_assertion = "client_assertion" in params or "client_assertion_type" in params
    if has_assertion:
        return _by_assertion(provider, params, audiences)
    client_id = params.get("client_id")
    if not client_id:
        return None
    with transaction(provider.sessions) as session:
        client = get_client(session, client_id)
    if client is None:
        return None  # not a registered client: the grant decides (first-party refresh)
    if not client.public:
        raise InvalidClient(detail=f"confidential client {client_id} sent no credentials")
    return client


def _by_secret(provider: Provider, client_id: str, secret: str, method: str) -> ClientView:
    client = ClientCache.check_secret(provider.clients.load(client_id), secret) if client_id and secret else None
    if client is None:
        raise InvalidClient(detail=f"bad {method} credentials for {client_id[:64]!r}")
    return client


def _by_assertion(provider: Provider, params: dict[str, str], audiences: tuple[str, ...]) -> ClientView:
    if params.get("client_assertion_type") != JWT_BEARER or not params.get("client_assertion"):
        raise InvalidClient(detail="unsupported client_assertion_type")
    assertion = params["client_assertion"]
    try:
        _, payload_b64, _ = split_compact(assertion, 8192)
        unverified = parse_claims(decode_segment(payload_b64))
    except InvalidToken:
        raise InvalidClient(detail="malformed client assertion") from None
    client_id = unverified.get("sub")
    if not isinstance(client_id, str) or params.get("client_id") not in (None, client_id):
        raise InvalidClient(detail="assertion sub missing or differs from client_id")
    with transaction(provider.sessions) as session:
        client = get_client(session, client_id)
    if client is None or client.auth_method != "private_key_jwt" or not client.jwks:
        raise InvalidClient(detail=f"{client_id[:64]!r} is not a private_key_jwt client")
    keys = load_jwks(client.jwks, ASYMMETRIC_ALGS)
    try:
        _, payload = verify_compact(assertion, keys.get, ASYMMETRIC_ALGS)
        claims = parse_claims(payload)
    except InvalidToken as exc:
        raise InvalidClient(detail=f"client assertion: {exc.reason}") from None
    _check_assertion_claims(claims, client_id, audiences)
    key = hashlib.sha256(f"{client_id}\x00{claims['jti']}".encode()).hexdigest()
    expires = clock.from_timestamp(float(claims["exp"]) + LEEWAY) + timedelta(seconds=1)
    with transaction(provider.sessions) as session:
        if not repo.remember_jti(session, key, expires):
            raise InvalidClient(detail="client assertion replayed (jti seen before)")
    return client


def _check_assertion_claims(claims: dict[str, Any], client_id: str, audiences: tuple[str, ...]) -> None:
    """RFC 7523 §3: iss = sub = client id, aud names us, exp in the near future, a jti."""
    now = time.time()
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise InvalidClient(detail="assertion iss/sub must both be the client id")
    aud = claims.get("aud")
    auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not any(a in audiences for a in auds if isinstance(a, str)):
        raise InvalidClient(detail="assertion aud does not name this server")
    exp, iat = claims.get("exp"), claims.get("iat", now)
    if type(exp) not in (int, float) or type(iat) not in (int, float):
        raise InvalidClient(detail="assertion exp/iat missing or not numbers")
    if exp + LEEWAY <= now or exp > now + MAX_ASSERTION_LIFETIME or iat > now + LEEWAY:
        raise InvalidClient(detail="assertion expired, too long-lived, or from the future")
    nbf = claims.get("nbf")
    if nbf is not None and (type(nbf) not in (int, float) or nbf > now + LEEWAY):
        raise InvalidClient(detail="assertion not yet valid")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= 256:
        raise InvalidClient(detail="assertion jti missing")


def assertion_audiences(issuer: str) -> tuple[str, ...]:
    """RFC 7523 §3 item 3: the issuer, or the URL of an endpoint that authenticates clients."""
    base = issuer.rstrip("/")
    return (issuer, base, f"{base}/token", f"{base}/introspect")
