"""Sealing second-factor secrets and hashing recovery codes with keys derived from the KEK."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = "v1"


@lru_cache(maxsize=16)
def derive(kek: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"idgate " + purpose).derive(kek)


def seal(kek: bytes, plaintext: str, aad: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(derive(kek, b"totp secret v1")).encrypt(nonce, plaintext.encode(), aad.encode())
    return f"{_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def open_sealed(kek: bytes, blob: str, aad: str) -> str | None:
    """The plaintext, or None if the blob is damaged, of another user, or under another KEK."""
    version, _, body = blob.partition(".")
    if version != _VERSION:
        return None
    try:
        raw = base64.urlsafe_b64decode(body)
        return AESGCM(derive(kek, b"totp secret v1")).decrypt(raw[:12], raw[12:], aad.encode()).decode()
    except (ValueError, InvalidTag):
        return None


def code_hash(kek: bytes, user_id: str, code: str) -> str:
    return hmac.new(derive(kek, b"recovery code v1"), f"{user_id}:{code}".encode(), hashlib.sha256).hexdigest()
