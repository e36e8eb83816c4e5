"""JWS compact signing (RFC 7515 §7.1) of JWT claims (RFC 7519 §7.1)."""

from __future__ import annotations

from typing import Any

from joserfc import jwt

from idgate.jose.keys import SigningKey, quiet_eddsa_warning


def sign_jwt(claims: dict[str, Any], key: SigningKey, typ: str) -> str:
    """Sign ``claims`` with ``key``; the header is exactly ``{alg, kid, typ}``.

    The algorithm comes from the key, never from the caller, and is the only one passed to
    joserfc, so a misconfigured caller cannot sign with something else.
    """
    header = {"alg": key.alg, "kid": key.kid, "typ": typ}
    with quiet_eddsa_warning():
        return jwt.encode(header, claims, key.jose_key, algorithms=[key.alg])
