"""Signing keys: generation, RFC 7638 thumbprints and encryption at rest."""

from __future__ import annotations

import base64
import json
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from idgate.errors import ConfigError
from idgate.jose.algorithms import KEY_SHAPE, MIN_HMAC_BYTES, MIN_RSA_BITS, check_alg

_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_AT_REST_VERSION = "v1"

JoseKey = ECKey | OKPKey | RSAKey | OctKey


@dataclass(frozen=True)
class SigningKey:
    """A private signing key with its one algorithm and its RFC 7638 ``kid``."""

    kid: str
    alg: str
    jose_key: JoseKey = field(repr=False)

    @property
    def public_jwk(self) -> dict[str, Any]:
        return public_jwk(self.jose_key, self.alg, self.kid)

    def private_pem(self) -> bytes:
        """PKCS#8 (or the raw secret for HS256); only for encryption at rest."""
        if isinstance(self.jose_key, OctKey):
            return self.jose_key.raw_value
        return self.jose_key.as_pem(private=True)


def generate_signing_key(alg: str) -> SigningKey:
    check_alg(alg)
    kty, crv = KEY_SHAPE[alg]
    key: JoseKey
    if kty == "EC":
        key = ECKey.generate_key(crv, private=True)
    elif kty == "OKP":
        key = OKPKey.generate_key(crv, private=True)
    elif kty == "RSA":
        key = RSAKey.generate_key(3072, private=True)
    else:
        key = OctKey.generate_key(MIN_HMAC_BYTES * 8, private=True)
    return SigningKey(kid=thumbprint(key), alg=alg, jose_key=key)


def thumbprint(key: JoseKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url), used as the ``kid``."""
    return key.thumbprint()


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of a public JWK given as a dict (DPoP ``jkt``, RFC 9449 §6.1).
    Raises ValueError for anything that is not a well-formed EC, OKP or RSA key."""
    from joserfc.errors import JoseError
    from joserfc.jwk import JWKRegistry

    try:
        return JWKRegistry.import_key(dict(jwk)).thumbprint()
    except (JoseError, KeyError, TypeError, ValueError) as exc:
        raise ValueError("not a usable JWK") from exc


def public_jwk(key: JoseKey, alg: str, kid: str) -> dict[str, Any]:
    data = dict(key.as_dict(private=False))
    if any(m in data for m in _PRIVATE_MEMBERS) and data.get("kty") != "oct":
        raise AssertionError("public JWK export leaked a private member")
    data.update({"kid": kid, "alg": alg, "use": "sig"})
    return data


def import_private_key(raw: bytes, alg: str) -> JoseKey:
    check_alg(alg)
    kty, _ = KEY_SHAPE[alg]
    if kty == "oct":
        if len(raw) < MIN_HMAC_BYTES:
            raise ConfigError("HS256 secret is shorter than 256 bits; generate a new one.")
        return OctKey.import_key(raw)
    loaded = serialization.load_pem_private_key(raw, password=None)
    if kty == "RSA":
        if not isinstance(loaded, rsa.RSAPrivateKey) or loaded.key_size < MIN_RSA_BITS:
            raise ConfigError(f"{alg} needs an RSA key of at least {MIN_RSA_BITS} bits.")
        return RSAKey.import_key(loaded)
    if kty == "EC":
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ConfigError(f"{alg} needs an EC private key.")
        return ECKey.import_key(loaded)
    if not isinstance(loaded, ed25519.Ed25519PrivateKey):
        raise ConfigError("EdDSA needs an Ed25519 private key.")
    return OKPKey.import_key(loaded)


def encrypt_private_key(key: SigningKey, kek: bytes) -> str:
    """AES-256-GCM under the key-encryption key, bound to the ``kid`` as associated data.

    Binding the kid means an encrypted blob cannot be swapped onto another key's row.
    """
    _check_kek(kek)
    nonce = os.urandom(12)
    sealed = AESGCM(kek).encrypt(nonce, key.private_pem(), key.kid.encode())
    return ".".join((_AT_REST_VERSION, _b64(nonce), _b64(sealed)))


def decrypt_private_key(blob: str, kek: bytes, kid: str, alg: str) -> SigningKey:
    _check_kek(kek)
    try:
        version, nonce, sealed = blob.split(".")
        if version != _AT_REST_VERSION:
            raise ValueError(version)
        raw = AESGCM(kek).decrypt(_unb64(nonce), _unb64(sealed), kid.encode())
    except Exception as exc:  # InvalidTag, ValueError: wrong KEK or tampered blob
        raise ConfigError(
            f"Cannot decrypt signing key {kid}: wrong key-encryption key (IDGATE_KEK or DATA/kek) or a damaged key row."
        ) from exc
    jose_key = import_private_key(raw, alg)
    if thumbprint(jose_key) != kid:
        raise ConfigError(f"Signing key {kid} does not match its thumbprint; the key row is damaged.")
    return SigningKey(kid=kid, alg=alg, jose_key=jose_key)


def _check_kek(kek: bytes) -> None:
    if len(kek) != 32:
        raise ConfigError("The key-encryption key must be 32 bytes (64 hex characters).")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


@contextmanager
def quiet_eddsa_warning() -> Iterator[None]:
    """joserfc warns that the name "EdDSA" is deprecated by RFC 9864 in favour of "Ed25519".

    idgate still signs with "EdDSA" because that is what today's clients (PyJWT, node's jose,
    Keycloak) understand; the key is always Ed25519, so the warning says nothing we can act on.
    The filter is narrow: only this message, only around our own calls.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)
        yield
