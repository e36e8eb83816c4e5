"""The reference verification path, through joserfc; used only by the differential tests.

:mod:`idgate.jose.verify` checks signatures by calling ``cryptography`` directly. That is
allowed only while ``tests/jose/test_wycheproof_jws.py`` shows it never accepts what this
joserfc path rejects, on every Wycheproof JWS vector and every forgery test.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from joserfc import jws, jwt
from joserfc.jwk import KeySet, import_key
from joserfc.jwt import JWTClaimsRegistry

from idgate.errors import InvalidToken
from idgate.jose.algorithms import ASYMMETRIC_ALGS
from idgate.jose.keys import quiet_eddsa_warning


def reference_verify_signature(
    token: str, jwk: Mapping[str, Any], algorithms: Collection[str] = ASYMMETRIC_ALGS
) -> tuple[dict[str, Any], bytes]:
    """joserfc's verdict on a compact JWS and one JWK (or JWK Set)."""
    try:
        key: Any = KeySet.import_key_set(dict(jwk)) if "keys" in jwk else import_key(dict(jwk))
        with quiet_eddsa_warning():
            obj = jws.deserialize_compact(token, key, algorithms=list(algorithms))
    except Exception as exc:  # any joserfc refusal, whatever its class, is a "reject"
        raise InvalidToken(f"reference:{type(exc).__name__}") from exc
    return dict(obj.headers()), obj.payload


def reference_decoder(
    jwk: Mapping[str, Any],
    *,
    issuer: str,
    audience: str,
    leeway: int = 30,
    algorithms: Collection[str] = ASYMMETRIC_ALGS,
) -> Callable[[str, int], dict[str, Any]]:
    """joserfc's verdict on a whole RFC 9068 access token: signature, then claims.

    The key is imported once, so ``bench/bench_verifier.py`` measures joserfc at its best.
    Claims are marked essential because joserfc only checks claims that are present.
    """
    key = import_key(dict(jwk))
    allowed = list(algorithms)
    essential: Any = {"essential": True}

    def decode(token: str, now: int) -> dict[str, Any]:
        try:
            with quiet_eddsa_warning():
                token_obj = jwt.decode(token, key, algorithms=allowed)
            registry = JWTClaimsRegistry(
                now=now,
                leeway=leeway,
                iss={"essential": True, "value": issuer},
                aud={"essential": True, "value": audience},
                exp=essential,
                iat=essential,
                sub=essential,
                jti=essential,
                client_id=essential,
            )
            registry.validate(token_obj.claims)
        except Exception as exc:
            raise InvalidToken(f"reference:{type(exc).__name__}") from exc
        return dict(token_obj.claims)

    return decode


def reference_decode(
    token: str,
    jwk: Mapping[str, Any],
    *,
    issuer: str,
    audience: str,
    now: int,
    leeway: int = 30,
    algorithms: Collection[str] = ASYMMETRIC_ALGS,
) -> dict[str, Any]:
    """One-shot form of :func:`reference_decoder`."""
    try:
        decode = reference_decoder(jwk, issuer=issuer, audience=audience, leeway=leeway, algorithms=algorithms)
    except Exception as exc:
        raise InvalidToken(f"reference:{type(exc).__name__}") from exc
    return decode(token, now)
