"""JWT access tokens (RFC 9068).

Header ``{alg, kid, typ: "at+jwt"}`` (§2.1); claims per §2.2: ``iss exp aud sub client_id iat
jti`` are required, plus ``scope`` (§2.2.3), ``roles`` (§2.2.3.1), and idgate's
``permissions`` and ``preferred_username``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from idgate import ids
from idgate.config.schema import ACCESS_TTL_CEILING
from idgate.errors import InvalidScope, InvalidTarget
from idgate.jose import SigningKey, sign_jwt
from idgate.store.users import UserView

ACCESS_TOKEN_TYP = "at+jwt"
_SCOPE_TOKEN_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F)) - {'"', "\\"}


def parse_scope(raw: str | None) -> list[str] | None:
    """RFC 6749 §3.3: space-delimited, case-sensitive scope tokens of %x21 / %x23-5B / %x5D-7E."""
    if raw is None or raw.strip() == "":
        return None
    tokens = raw.split(" ")
    if any(not t or not set(t) <= _SCOPE_TOKEN_CHARS for t in tokens) or len(tokens) > 100:
        raise InvalidScope("The scope parameter is malformed.")
    return list(dict.fromkeys(tokens))


def grant_scope(requested: Sequence[str] | None, permitted: Iterable[str]) -> list[str]:
    """The scope of a token is what was asked for, if all of it is permitted; else everything
    permitted when nothing was asked for. Asking for more than is permitted is an error (§3.3
    lets us narrow silently, but a loud refusal is easier to debug and leaks nothing new)."""
    allowed = list(permitted)
    if requested is None:
        return allowed
    missing = [s for s in requested if s not in allowed]
    if missing:
        raise InvalidScope(detail=f"not permitted: {' '.join(missing)}")
    return list(requested)


def choose_audience(requested: str | None, allowed: Sequence[str], default: str) -> str:
    if requested is None or requested == "":
        return default
    if requested not in allowed:
        raise InvalidTarget(detail=f"audience {requested!r}")
    return requested


def access_token_claims(*, user: UserView, issuer: str, audience: str, client_id: str,
                        scope: Sequence[str], ttl: int, now: int, profile_claims: Iterable[str] = (),
                        auth_time: int | None = None, amr: Sequence[str] = ("pwd",),
                        dpop_jkt: str | None = None) -> dict[str, Any]:
    if not 0 < ttl <= ACCESS_TTL_CEILING:
        raise ValueError(f"access-token lifetime {ttl} outside 1..{ACCESS_TTL_CEILING}")
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": user.id,
        "aud": audience,
        "exp": now + ttl,
        "iat": now,
        "nbf": now,
        "jti": ids.jti(),
        "client_id": client_id,
        "scope": " ".join(scope),
        "auth_time": auth_time if auth_time is not None else now,
        "amr": list(amr),
        "roles": list(user.roles),
        "permissions": list(user.permissions),
        "preferred_username": user.username,
    }
    bind(claims, dpop_jkt)
    for name in profile_claims:
        value = getattr(user, name, None) if name in ("email", "name") else None
        if value:
            claims[name] = value
    return claims


def bind(claims: dict[str, Any], dpop_jkt: str | None) -> dict[str, Any]:
    """RFC 9449 §6.1: a DPoP-bound token names its key's thumbprint in ``cnf.jkt`` (RFC 7800)."""
    if dpop_jkt is not None:
        claims["cnf"] = {"jkt": dpop_jkt}
    return claims


def token_type(dpop_jkt: str | None) -> str:
    """RFC 9449 §5: ``DPoP`` for a bound access token, ``Bearer`` (RFC 6750) otherwise."""
    return "DPoP" if dpop_jkt is not None else "Bearer"


def issue_access_token(claims: dict[str, Any], key: SigningKey) -> str:
    return sign_jwt(claims, key, ACCESS_TOKEN_TYP)
