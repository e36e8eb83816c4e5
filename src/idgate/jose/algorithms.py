"""The allow-list of signing algorithms (RFC 8725 §3.1, §3.2).

An algorithm is usable only if it is listed here *and* matches the key it is used with: the
algorithm is a property of the key (RFC 8725 §3.1 "each key MUST be used with exactly one
algorithm"), never something the token gets to choose.
"""

from __future__ import annotations

from typing import Any

from idgate.errors import ConfigError

# Asymmetric algorithms, strongest-default first. ES256 is the default: small keys, small
# signatures, fast verification and wide client support.
ASYMMETRIC_ALGS: tuple[str, ...] = ("ES256", "ES384", "EdDSA", "RS256", "PS256")
# HS256 exists only for a single trusted service that holds the same secret; it is never the
# default and never mixed with asymmetric keys in one deployment.
SYMMETRIC_ALGS: tuple[str, ...] = ("HS256",)
SIGNING_ALGS: tuple[str, ...] = ASYMMETRIC_ALGS + SYMMETRIC_ALGS
DEFAULT_ALG = "ES256"
MIN_RSA_BITS = 2048
MIN_HMAC_BYTES = 32

# alg -> (kty, crv or None)
KEY_SHAPE: dict[str, tuple[str, str | None]] = {
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "EdDSA": ("OKP", "Ed25519"),
    "RS256": ("RSA", None),
    "PS256": ("RSA", None),
    "HS256": ("oct", None),
}


def check_alg(alg: str) -> str:
    if alg not in SIGNING_ALGS:
        raise ConfigError(
            f"Signing algorithm {alg!r} is not supported; choose one of {', '.join(ASYMMETRIC_ALGS)}."
        )
    return alg


def alg_for_jwk(jwk: dict[str, Any]) -> str | None:
    """The one algorithm a public JWK may be used with, or None if it fits none.

    A JWK that names its ``alg`` must name an allowed one that fits its key type; an RSA key
    without ``alg`` is ambiguous (RS256 or PS256) and is refused, because guessing the
    algorithm from the token is exactly what RFC 8725 §2.1 warns about.
    """
    kty, crv, alg = jwk.get("kty"), jwk.get("crv"), jwk.get("alg")
    if alg is not None:
        shape = KEY_SHAPE.get(alg)
        if shape is None or shape[0] != kty or (shape[1] is not None and shape[1] != crv):
            return None
        return alg
    for candidate, (k, c) in KEY_SHAPE.items():
        if k == kty and c is not None and c == crv:
            return candidate
    return None
