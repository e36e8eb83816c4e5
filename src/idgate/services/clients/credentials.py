"""Client secrets (RFC 6749 §2.3.1): how they are made, stored and compared.

Client secrets are 256 random bits (``igs_`` + 43 base64url characters) and only their SHA-256
is stored. A slow password hash (argon2id) exists to make *guessable* secrets expensive to
guess; a 256-bit random secret cannot be guessed at any speed, so SHA-256 protects it just as
well, and a token request stays a microsecond check instead of an attacker-triggerable 50 ms of
CPU. Secrets are compared as hashes with ``hmac.compare_digest`` (constant time).
"""

from __future__ import annotations

import hmac
import secrets

from idgate import ids

SECRET_METHODS = ("client_secret_basic", "client_secret_post")
SECRET_PREFIX = "igs_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_matches(stored_hash: str | None, presented: str) -> bool:
    """Constant-time comparison of SHA-256 hashes; a missing hash compares against a dummy."""
    expected = stored_hash or "0" * 64
    return hmac.compare_digest(ids.token_hash(presented), expected) and stored_hash is not None
