"""OpenID Connect pieces: ID tokens, scope-limited claims, and reading an ``id_token_hint``.

ID tokens have ``typ: "JWT"`` and ``aud`` = the client id; access tokens have ``typ: "at+jwt"``
and a resource-server audience. Each verifier checks ``typ`` first, so neither is ever accepted
in place of the other (RFC 9068 §4, RFC 8725 §3.11).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import Any

from idgate import ids
from idgate.errors import InsufficientScope, InvalidToken
from idgate.jose import sign_jwt
from idgate.jose.algorithms import ASYMMETRIC_ALGS, SYMMETRIC_ALGS
from idgate.jose.pubkeys import load_jwks
from idgate.jose.verify import parse_claims, verify_compact
from idgate.provider import Provider
from idgate.rs.claims import numeric_date
from idgate.store.users import UserView

ID_TOKEN_TYP = "JWT"
# Scopes that name claims about the user rather than a permission (OIDC Core §5.4).
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
# acr "1": a single authentication factor (a password). Issue 5's second factor raises it.
ACR_PASSWORD = "1"
ACR_TWO_FACTOR = "2"  # password and a one-time code (amr ["pwd", "otp"])
# OpenID EAP ACR Values 1.0 §2: "phr", phishing-resistant authentication. idgate gives it to a
# sign-in that used a passkey (alone or after a password): the key answers only idgate's origin.
ACR_PHISHING_RESISTANT = "phr"
ACR_VALUES = (ACR_PASSWORD, ACR_TWO_FACTOR, ACR_PHISHING_RESISTANT)
PASSKEY_AMR = frozenset({"hwk", "swk"})


def acr_of(amr: str) -> str:
    """The ``acr`` (OIDC Core §2) of a sign-in with these RFC 8176 methods."""
    methods = set(amr.split())
    if methods & PASSKEY_AMR:
        return ACR_PHISHING_RESISTANT
    return ACR_TWO_FACTOR if methods & {"otp", "mfa"} else ACR_PASSWORD
ID_TOKEN_TTL = 600
_HASHES = {"ES256": hashlib.sha256, "RS256": hashlib.sha256, "PS256": hashlib.sha256, "HS256": hashlib.sha256,
           "ES384": hashlib.sha384, "EdDSA": hashlib.sha512}


def half_hash(value: str, alg: str) -> str:
    """OIDC Core §3.1.3.6 ``at_hash``: left half of the hash the signing algorithm uses."""
    digest = _HASHES[alg](value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def id_token(provider: Provider, *, user: UserView, client_id: str, scope: Sequence[str], now: int, auth_time: int,
             nonce: str | None, amr: Sequence[str], acr: str, sid: str | None, access_token: str | None) -> str:
    key = provider.keyring().active
    claims: dict[str, Any] = {
        "iss": provider.settings.issuer, "sub": user.id, "aud": client_id, "azp": client_id,
        "exp": now + ID_TOKEN_TTL, "iat": now, "auth_time": auth_time, "jti": ids.jti(),
        "amr": list(amr), "acr": acr,
    }
    if nonce is not None:
        claims["nonce"] = nonce
    if sid:
        claims["sid"] = sid
    if access_token is not None:
        claims["at_hash"] = half_hash(access_token, key.alg)
    claims.update(user_claims(user, scope, include_sub=False))
    return sign_jwt(claims, key, ID_TOKEN_TYP)


def user_claims(user: UserView, scope: Sequence[str], *, include_sub: bool = True) -> dict[str, Any]:
    """Claims a scope releases (OIDC Core §5.4): profile -> name, preferred_username;
    email -> email. Nothing else about the user goes to a third-party app."""
    claims: dict[str, Any] = {"sub": user.id} if include_sub else {}
    if "profile" in scope:
        claims["preferred_username"] = user.username
        if user.name:
            claims["name"] = user.name
    if "email" in scope and user.email:
        claims["email"] = user.email
        # idgate does not verify email addresses; say so rather than leave it to guesswork.
        claims["email_verified"] = False
    return claims


def third_party_userinfo(user: UserView, scope: Sequence[str]) -> dict[str, Any]:
    """OIDC Core §5.3: /userinfo needs the ``openid`` scope; claims follow the other scopes."""
    if "openid" not in scope:
        raise InsufficientScope("openid")
    return user_claims(user, scope)


def verify_id_token_hint(provider: Provider, token: str) -> dict[str, Any]:
    """An ID token this server issued (signature, ``typ: JWT``, ``iss``); it may have expired
    (OIDC RP-Initiated Logout §2). An access token is refused by its ``typ``."""
    keyring = provider.keyring()
    algs = SYMMETRIC_ALGS if keyring.active.alg in SYMMETRIC_ALGS else ASYMMETRIC_ALGS
    keys = load_jwks(keyring.public_jwks(), algs, allow_symmetric=algs == SYMMETRIC_ALGS)
    _, payload = verify_compact(token, keys.get, algs, typ=ID_TOKEN_TYP)
    claims = parse_claims(payload)
    if claims.get("iss") != provider.settings.issuer:
        raise InvalidToken("wrong_issuer")
    if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("aud"), (str, list)):
        raise InvalidToken("malformed")
    numeric_date(claims, "iat")
    return claims


def hint_client_id(claims: dict[str, Any]) -> str | None:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return aud
    azp = claims.get("azp")
    return azp if isinstance(azp, str) and isinstance(aud, list) and azp in aud else None
