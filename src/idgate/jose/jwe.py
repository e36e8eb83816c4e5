"""Encrypted tokens: nested JWTs, signed then encrypted (RFC 7519 §5.2, RFC 7516 §7.1).

Only two key-management algorithms and one content encryption are allowed. Everything known to
be dangerous is refused before joserfc sees the token: RSA1_5 (Bleichenbacher padding oracle),
``dir`` (a shared key with a third party), PBES2 (password-based, with an attacker-chosen ``p2c``
iteration count: a CPU bomb), ``zip`` (a decompression bomb, and compression before encryption
leaks plaintext lengths), and ``crit`` extensions we do not implement.
"""

from __future__ import annotations

import base64
import binascii
import json
import warnings
from typing import Any

from joserfc import jwe
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, OctKey, RSAKey

from idgate.errors import ConfigError, InvalidToken

KEY_MANAGEMENT_ALGS: tuple[str, ...] = ("RSA-OAEP-256", "ECDH-ES+A256KW")
CONTENT_ENCRYPTION_ALGS: tuple[str, ...] = ("A256GCM",)
# Refused whatever a caller allows: see the module docstring.
NEVER_ALGS = frozenset({"RSA1_5", "dir", "PBES2-HS256+A128KW", "PBES2-HS384+A192KW", "PBES2-HS512+A256KW"})
MAX_JWE_BYTES = 16_384
_MAX_HEADER_BYTES = 2048
_EC_CURVES = ("P-256", "P-384", "P-521")
_MIN_RSA_BITS = 2048

EncryptionKey = RSAKey | ECKey


def import_encryption_key(data: dict[str, Any] | str | bytes, *, private: bool) -> EncryptionKey:
    """A recipient key from a JWK (dict/JSON) or PEM; RSA >= 2048 bits or EC P-256/384/521 only."""
    with warnings.catch_warnings():
        # joserfc warns about small RSA keys; here that is a refusal, not a warning.
        warnings.simplefilter("error", SecurityWarning)
        key = _import_key(data)
    if isinstance(key, RSAKey) and key.raw_value.key_size < _MIN_RSA_BITS:
        raise ConfigError(f"RSA encryption keys must have at least {_MIN_RSA_BITS} bits.")
    if isinstance(key, ECKey) and key.curve_name not in _EC_CURVES:
        raise ConfigError("EC encryption keys must be on P-256, P-384 or P-521.")
    if private and not key.is_private:
        raise ConfigError("A private key is needed to decrypt.")
    return key


def _import_key(data: dict[str, Any] | str | bytes) -> EncryptionKey:
    try:
        if isinstance(data, (str, bytes)) and not str(data if isinstance(data, str) else data.decode()).lstrip().startswith("{"):
            raw = data.encode() if isinstance(data, str) else data
            key: EncryptionKey
            try:
                key = RSAKey.import_key(raw)
            except (JoseError, ValueError, TypeError):
                key = ECKey.import_key(raw)
        else:
            jwk = json.loads(data) if isinstance(data, (str, bytes)) else dict(data)
            key = RSAKey.import_key(jwk) if jwk.get("kty") == "RSA" else ECKey.import_key(jwk)
    except SecurityWarning as exc:
        raise ConfigError(f"RSA encryption keys must have at least {_MIN_RSA_BITS} bits.") from exc
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ConfigError("The encryption key is not an RSA or EC key in JWK or PEM form.") from exc
    return key


def key_management_alg(key: EncryptionKey) -> str:
    return "RSA-OAEP-256" if isinstance(key, RSAKey) else "ECDH-ES+A256KW"


def public_jwk_of(key: EncryptionKey) -> dict[str, Any]:
    data = dict(key.as_dict(private=False))
    data.update({"use": "enc", "alg": key_management_alg(key)})
    return data


def encrypt_nested(signed_jwt: str, recipient: EncryptionKey) -> str:
    """Encrypt an already signed JWT for one recipient; ``cty: "JWT"`` marks the nesting."""
    alg = key_management_alg(recipient)
    header = {"alg": alg, "enc": CONTENT_ENCRYPTION_ALGS[0], "cty": "JWT", "typ": "JWT"}
    return jwe.encrypt_compact(header, signed_jwt, recipient, algorithms=[alg, CONTENT_ENCRYPTION_ALGS[0]])


def _b64decode(segment: str) -> bytes:
    if "=" in segment or not segment.isascii():
        raise InvalidToken("malformed")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("malformed") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidToken("duplicate_header_member")
        result[key] = value
    return result


def jwe_header(token: str, key_algs: tuple[str, ...] = KEY_MANAGEMENT_ALGS,
               enc_algs: tuple[str, ...] = CONTENT_ENCRYPTION_ALGS) -> dict[str, Any]:
    """The protected header of a compact JWE, checked against the policy above."""
    if len(token) > MAX_JWE_BYTES:
        raise InvalidToken("token_too_large")
    parts = token.split(".")
    if len(parts) != 5 or len(parts[0]) > _MAX_HEADER_BYTES:
        raise InvalidToken("malformed")
    try:
        header = json.loads(_b64decode(parts[0]), object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError):
        raise InvalidToken("malformed") from None
    if not isinstance(header, dict):
        raise InvalidToken("malformed")
    if header.get("alg") in NEVER_ALGS or header.get("alg") not in key_algs:
        raise InvalidToken("jwe_alg_not_allowed")
    if header.get("enc") not in enc_algs:
        raise InvalidToken("jwe_enc_not_allowed")
    if "zip" in header:
        raise InvalidToken("jwe_zip_refused")
    if "crit" in header:
        raise InvalidToken("unsupported_crit")
    for member in ("jku", "jwk", "x5u", "x5c"):
        if member in header:
            raise InvalidToken("embedded_key_refused")
    return header


def _check_key_fits(header: dict[str, Any], key: Any) -> None:
    alg = str(header["alg"])
    fits = (isinstance(key, RSAKey) if alg.startswith("RSA") else isinstance(key, ECKey)
            if alg.startswith("ECDH") else isinstance(key, OctKey))
    # RFC 7517 §4.4: a key that names its algorithm is used with that algorithm only.
    named = key.get("alg") if hasattr(key, "get") else None
    if not fits or (named is not None and named != alg):
        raise InvalidToken("jwe_key_mismatch")


def _check_epk(header: dict[str, Any], key: Any) -> None:
    """ECDH-ES: the sender's ephemeral key must be a valid point on the recipient's curve
    (invalid-curve attacks recover the private key from answers to off-curve points)."""
    if not str(header["alg"]).startswith("ECDH"):
        return
    epk = header.get("epk")
    if not isinstance(epk, dict) or epk.get("kty") != "EC" or epk.get("crv") != key.curve_name or "d" in epk:
        raise InvalidToken("jwe_bad_epk")
    try:
        ECKey.import_key(epk)  # cryptography refuses points that are not on the curve
    except (JoseError, ValueError, TypeError):
        raise InvalidToken("jwe_bad_epk") from None


def decrypt(token: str, key: Any, *, key_algs: tuple[str, ...] = KEY_MANAGEMENT_ALGS,
            enc_algs: tuple[str, ...] = CONTENT_ENCRYPTION_ALGS) -> tuple[dict[str, Any], bytes]:
    """Decrypt a compact JWE for ``key``; every failure is ``InvalidToken``.

    ``key_algs``/``enc_algs`` narrow or (for the Wycheproof proof of this layer) widen the
    allow-list; ``NEVER_ALGS``, ``zip`` and ``crit`` stay refused either way.
    """
    header = jwe_header(token, key_algs, enc_algs)
    _check_key_fits(header, key)
    _check_epk(header, key)
    try:
        result = jwe.decrypt_compact(token, key, algorithms=[header["alg"], header["enc"]])
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InvalidToken("jwe_decryption_failed") from exc
    plaintext = result.plaintext
    if plaintext is None:
        raise InvalidToken("jwe_decryption_failed")
    return header, plaintext


def decrypt_nested(token: str, key: EncryptionKey) -> str:
    """The inner signed JWT of a nested token (RFC 7519 §5.2: ``cty`` is ``JWT``)."""
    header, plaintext = decrypt(token, key)
    if str(header.get("cty", "")).upper() not in ("JWT", "APPLICATION/JWT"):
        raise InvalidToken("jwe_not_nested")
    try:
        inner = plaintext.decode("ascii")
    except UnicodeDecodeError:
        raise InvalidToken("malformed") from None
    if inner.count(".") != 2:
        raise InvalidToken("jwe_not_nested")
    return inner
