"""Passwords: Argon2id hashing, a bounded off-loop hash pool, and the NIST SP 800-63B-4 policy.

This package is the only place that imports ``argon2`` and ``bcrypt``.
"""

from .hashing import (
    MAX_PASSWORD_CHARS,
    HashParams,
    VerifyResult,
    dummy_verify,
    hash_password,
    normalize_password,
    verify_password,
)
from .policy import (
    MIN_LENGTH,
    MIN_LENGTH_WITH_SECOND_FACTOR,
    CommonPasswordList,
    PasswordListUnavailable,
    check_new_password,
    common_passwords,
)
from .pool import HashPool

__all__ = [
    "MAX_PASSWORD_CHARS",
    "MIN_LENGTH",
    "MIN_LENGTH_WITH_SECOND_FACTOR",
    "CommonPasswordList",
    "HashParams",
    "HashPool",
    "PasswordListUnavailable",
    "VerifyResult",
    "check_new_password",
    "common_passwords",
    "dummy_verify",
    "hash_password",
    "normalize_password",
    "verify_password",
]
