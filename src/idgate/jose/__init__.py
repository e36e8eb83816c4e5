"""JOSE layer: keys, key ring, JWS signing and verification.

This package is the only importer of ``joserfc``; everything else goes through it, so a
library upgrade or a changed default touches one place.
"""

from idgate.jose.algorithms import ASYMMETRIC_ALGS, SIGNING_ALGS, alg_for_jwk
from idgate.jose.keys import (
    SigningKey,
    decrypt_private_key,
    encrypt_private_key,
    generate_signing_key,
    jwk_thumbprint,
    public_jwk,
    thumbprint,
)
from idgate.jose.keyring import KeyRing
from idgate.jose.jws import sign_jwt

__all__ = [
    "ASYMMETRIC_ALGS",
    "SIGNING_ALGS",
    "KeyRing",
    "SigningKey",
    "alg_for_jwk",
    "decrypt_private_key",
    "encrypt_private_key",
    "generate_signing_key",
    "jwk_thumbprint",
    "public_jwk",
    "sign_jwt",
    "thumbprint",
]
