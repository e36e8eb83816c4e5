"""Every id and secret idgate makes comes from here, and from ``secrets`` only."""

from __future__ import annotations

import hashlib
import secrets

REFRESH_TOKEN_PREFIX = "igr_"


def user_id() -> str:
    """Opaque, random, stable subject identifier (never the username)."""
    return "u_" + secrets.token_urlsafe(16)


def jti() -> str:
    return secrets.token_urlsafe(16)


def refresh_token() -> str:
    """32 random bytes (256 bits) in base64url, with a prefix that secret scanners can match."""
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)


def session_id() -> str:
    return "s_" + secrets.token_urlsafe(16)


def family_id() -> str:
    return "f_" + secrets.token_urlsafe(16)


def password(length: int = 24) -> str:
    """A random password for the first admin: ~143 bits from a 62-character alphabet."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def key_encryption_key() -> bytes:
    return secrets.token_bytes(32)


def token_hash(token: str) -> str:
    """Only this hash of a bearer secret (refresh token, code) is ever stored."""
    return hashlib.sha256(token.encode()).hexdigest()
