"""Claim checks for JWT access tokens (RFC 9068 §2.2 and §4, RFC 7519 §4.1)."""

from __future__ import annotations

import math
from typing import Any

from idgate.errors import InvalidToken

# RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat and jti are REQUIRED.
_REQUIRED_STRINGS = ("sub", "jti", "client_id")


def numeric_date(claims: dict[str, Any], name: str) -> float:
    """RFC 7519 §2 NumericDate: a JSON number; ``true`` and ``"1700000000"`` are not."""
    value = claims.get(name)
    if type(value) not in (int, float) or not math.isfinite(value):
        raise InvalidToken(f"invalid_{name}")
    return value  # type: ignore[no-any-return]


def check_claims(
    claims: dict[str, Any],
    *,
    issuer: str,
    audience: str | tuple[str, ...],
    now: float,
    leeway: int,
    max_lifetime: int,
) -> None:
    # RFC 9068 §4: "The issuer identifier ... MUST exactly match the value of the iss claim."
    iss = claims.get("iss")
    if not isinstance(iss, str) or iss != issuer:
        raise InvalidToken("wrong_issuer")
    # RFC 9068 §4: the aud claim MUST contain a value identifying this resource server.
    # (A string, or an array of strings: RFC 7519 §4.1.3.) Written for the common case of
    # one string: this runs on every request.
    accepted = (audience,) if isinstance(audience, str) else audience
    aud = claims.get("aud")
    if type(aud) is str:
        if aud not in accepted:
            raise InvalidToken("wrong_audience")
    elif type(aud) is list and all(type(a) is str for a in aud):
        if not any(a in aud for a in accepted):
            raise InvalidToken("wrong_audience")
    else:
        raise InvalidToken("invalid_aud")
    for name in _REQUIRED_STRINGS:
        value = claims.get(name)
        if not isinstance(value, str) or not value:
            raise InvalidToken(f"invalid_{name}")
    scope = claims.get("scope")
    if scope is not None and not isinstance(scope, str):  # RFC 9068 §2.2.3: space-delimited
        raise InvalidToken("invalid_scope")
    check_times(claims, now=now, leeway=leeway, max_lifetime=max_lifetime)


def check_times(claims: dict[str, Any], *, now: float, leeway: int, max_lifetime: int) -> None:
    exp = numeric_date(claims, "exp")
    iat = numeric_date(claims, "iat")
    nbf = numeric_date(claims, "nbf") if "nbf" in claims else None
    # RFC 7519 §4.1.4: the current time MUST be before exp (plus a small leeway).
    if now >= exp + leeway:
        raise InvalidToken("expired", "The access token expired.")
    # RFC 7519 §4.1.5: not accepted before nbf.
    if nbf is not None and now + leeway < nbf:
        raise InvalidToken("not_yet_valid")
    # A token from the future means a wrong clock or a forged iat; either way, no.
    if now + leeway < iat:
        raise InvalidToken("issued_in_future")
    # Short-lived tokens only: a stolen token with a ten-year exp must not be honoured.
    if exp < iat:
        raise InvalidToken("invalid_exp")
    if exp - iat > max_lifetime:
        raise InvalidToken("lifetime_exceeds_ceiling")


def confirmation_jkt(claims: dict[str, Any]) -> str | None:
    """RFC 9449 §6.1: the DPoP key thumbprint a token is bound to (``cnf.jkt``), None when the
    token is not bound. A ``cnf`` that is not an object, or a ``jkt`` that is not a non-empty
    string, makes the token invalid: a malformed binding must never read as "no binding"."""
    if "cnf" not in claims:
        return None
    cnf = claims["cnf"]
    if not isinstance(cnf, dict):
        raise InvalidToken("invalid_cnf")
    if "jkt" not in cnf:
        if "x5t#S256" in cnf or "jwk" in cnf:
            raise InvalidToken("unsupported_cnf")  # mTLS or key binding: not something this verifier can check
        return None
    jkt = cnf["jkt"]
    if not isinstance(jkt, str) or not jkt:
        raise InvalidToken("invalid_cnf")
    return jkt
