"""Password hashing: Argon2id for everything new, bcrypt only to read imported legacy hashes.

References:

* OWASP Password Storage Cheat Sheet, "Argon2id": m=19456 KiB (19 MiB), t=2, p=1 is the
  baseline; "Upgrading Legacy Hashes": re-hash with the current algorithm at the next login.
* NIST SP 800-63B-4 §3.1.1.2: verifiers SHOULD apply Unicode normalisation (NFKC or NFKD)
  before hashing, verify the entire password (no truncation), and store passwords salted and
  hashed with a suitable password-hashing (key derivation) function.

Every stored-hash oddity (unknown prefix, garbled PHC string, absurd parameters) makes
``verify_password`` return ``ok=False``; it never raises, so a bad row can't turn a login
into a 500 that tells an attacker the account exists.
"""

from __future__ import annotations

import functools
import secrets
import unicodedata
from dataclasses import dataclass, fields

import argon2
import bcrypt
from argon2.exceptions import InvalidHashError, VerificationError

from idgate.errors import ConfigError, WeakPassword

__all__ = [
    "DEFAULT_PARAMS",
    "MAX_PASSWORD_CHARS",
    "HashParams",
    "VerifyResult",
    "dummy_verify",
    "hash_password",
    "normalize_password",
    "verify_password",
]

# Upper bound on accepted passwords (NIST SP 800-63B-4 §3.1.1.2: permit at least 64). Checked
# before any work so a megabyte "password" costs no more than a normal one.
MAX_PASSWORD_CHARS = 1024

# bcrypt only looks at the first 72 bytes; longer inputs are refused, never truncated
# (NIST SP 800-63B-4 §3.1.1.2: verifiers SHALL NOT truncate).
BCRYPT_MAX_BYTES = 72
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")  # $2x$ is crypt_blowfish's buggy variant: unsupported

# Limits on parameters read from a *stored* argon2 hash, so a corrupted or hostile imported row
# can't make one verify allocate gigabytes or spin for minutes.
_MAX_STORED_MEMORY_KIB = 1 << 20  # 1 GiB
_MAX_STORED_TIME_COST = 64
_MAX_STORED_PARALLELISM = 64
_MAX_STORED_BCRYPT_COST = 16  # 2**16 rounds, seconds of CPU; real legacy exports use 10-14


# OWASP Password Storage Cheat Sheet, "Argon2id" baseline; salt and tag lengths are argon2-cffi's
# (and RFC 9106 §3.1's recommended) 128-bit salt and 256-bit tag.
OWASP_MINIMUMS = {"memory_cost": 19456, "time_cost": 2, "parallelism": 1, "salt_len": 16, "hash_len": 32}


@dataclass(frozen=True)
class HashParams:
    """Argon2id parameters; defaults are OWASP's baseline (Password Storage Cheat Sheet).

    Each value may be raised, never lowered: anything below the baseline raises
    :class:`~idgate.errors.ConfigError` naming the key. (OWASP lists trade-offs such as
    m=47104,t=1; we keep the simpler rule "no key below the baseline".)
    """

    memory_cost: int = 19456  # KiB
    time_cost: int = 2
    parallelism: int = 1
    salt_len: int = 16  # bytes
    hash_len: int = 32  # bytes

    def __post_init__(self) -> None:
        minimums = OWASP_MINIMUMS  # a ConfigError names the key so the operator knows what to fix
        for f in fields(self):
            value = getattr(self, f.name)
            if type(value) is not int:
                raise ConfigError(f"password hashing: {f.name} must be an integer, got {value!r}")
            if value < minimums[f.name]:
                raise ConfigError(
                    f"password hashing: {f.name}={value} is below the OWASP minimum "
                    f"{minimums[f.name]}; raise {f.name} to at least {minimums[f.name]}"
                )


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify_password`.

    ``new_hash`` is set only when ``ok`` and the stored hash should be replaced (parameters
    changed, or a legacy bcrypt hash was upgraded to Argon2id). Callers store it.
    """

    ok: bool
    new_hash: str | None = None


_FAIL = VerifyResult(False)


def normalize_password(pw: str) -> str:
    """NFKC-normalise ``pw`` (NIST SP 800-63B-4 §3.1.1.2), the same way at enrolment and login.

    NFKC makes "ｐａｓｓ" (full-width) and "pass", or a precomposed "é" and "e"+U+0301, the same
    password, so what the user types on another keyboard still matches.
    """
    return unicodedata.normalize("NFKC", pw)


def _prepare(pw: object) -> bytes | None:
    """Bound, normalise and encode; ``None`` means "refuse" (too long, empty, not text)."""
    if not isinstance(pw, str) or not pw or len(pw) > MAX_PASSWORD_CHARS:
        return None
    norm = normalize_password(pw)
    # NFKC can expand some characters (up to 18x), so check the bound again afterwards.
    if len(norm) > MAX_PASSWORD_CHARS:
        return None
    try:
        return norm.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates cannot come from a real keyboard
        return None


@functools.lru_cache(maxsize=8)
def _hasher(params: HashParams) -> argon2.PasswordHasher:
    return argon2.PasswordHasher(
        time_cost=params.time_cost,
        memory_cost=params.memory_cost,
        parallelism=params.parallelism,
        hash_len=params.hash_len,
        salt_len=params.salt_len,
        type=argon2.Type.ID,
    )


DEFAULT_PARAMS = HashParams()


def hash_password(pw: str, *, params: HashParams = DEFAULT_PARAMS) -> str:
    """Return an Argon2id PHC string (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``).

    A fresh random salt per call (argon2-cffi draws ``salt_len`` bytes from ``os.urandom``).
    Raises :class:`~idgate.errors.WeakPassword` for an empty password or one longer than
    :data:`MAX_PASSWORD_CHARS`.
    """
    data = _prepare(pw)
    if data is None:
        raise WeakPassword(
            f"The password must be between 1 and {MAX_PASSWORD_CHARS} characters of valid Unicode.",
            detail="unhashable",
        )
    return _hasher(params).hash(data)


@functools.lru_cache(maxsize=8)
def dummy_hash(params: HashParams) -> str:
    """A hash of a random secret nobody knows, made once per parameter set (so dummy work uses
    exactly the configured cost). :class:`HashPool` warms it up at start so the first unknown
    user isn't slower than the rest."""
    return _hasher(params).hash(secrets.token_bytes(32))


def dummy_verify(pw: str, *, params: HashParams = DEFAULT_PARAMS) -> bool:
    """Spend one real Argon2id verification and return ``False``.

    For an unknown user, so that "no such user" costs the same work as "wrong password"
    (OWASP Authentication Cheat Sheet, "Authentication Responses"; NIST SP 800-63B-4 §3.2.2).
    """
    data = _prepare(pw) or b"\0"
    try:
        _hasher(params).verify(dummy_hash(params), data)
    except VerificationError:
        pass
    return False


def _stored_params_sane(stored_hash: str) -> bool:
    try:
        p = argon2.extract_parameters(stored_hash)
    except (InvalidHashError, ValueError):
        return False
    return (
        p.memory_cost <= _MAX_STORED_MEMORY_KIB
        and p.time_cost <= _MAX_STORED_TIME_COST
        and p.parallelism <= _MAX_STORED_PARALLELISM
    )


def _verify_argon2(stored_hash: str, data: bytes, params: HashParams) -> VerifyResult | None:
    """``None`` means the stored hash is unusable (the caller spends dummy work instead)."""
    if not _stored_params_sane(stored_hash):
        return None
    ph = _hasher(params)
    try:
        ph.verify(stored_hash, data)
    except VerificationError:  # includes VerifyMismatchError: the wrong password
        return _FAIL
    except (InvalidHashError, ValueError):
        return None
    # check_needs_rehash also fires for argon2i/argon2d or other parameters: upgrade on login
    # (OWASP Password Storage Cheat Sheet, "Upgrading the work factor").
    return VerifyResult(True, ph.hash(data) if ph.check_needs_rehash(stored_hash) else None)


def _verify_bcrypt(stored_hash: str, pw: str, data: bytes, params: HashParams) -> VerifyResult | None:
    """Legacy bcrypt: read-only, upgraded to Argon2id on success.

    bcrypt ignores bytes after the 72nd; rather than silently truncating we refuse longer
    passwords (verify fails). The importing system most likely hashed the raw UTF-8 of what the
    user typed, so we try that first and then the NFKC form if it differs.
    """
    cost = stored_hash[4:6]
    if not (cost.isdigit() and 4 <= int(cost) <= _MAX_STORED_BCRYPT_COST):
        return None
    stored = stored_hash.encode("ascii")
    candidates = [pw.encode("utf-8")]
    if data != candidates[0]:
        candidates.append(data)
    for candidate in candidates:
        if len(candidate) > BCRYPT_MAX_BYTES:
            continue
        try:
            if bcrypt.checkpw(candidate, stored):
                return VerifyResult(True, _hasher(params).hash(data))
        except ValueError:  # malformed salt/cost: unusable, like any garbled hash
            return None
    return _FAIL


def verify_password(stored_hash: str, pw: str, *, params: HashParams = DEFAULT_PARAMS) -> VerifyResult:
    """Check ``pw`` against ``stored_hash`` (Argon2 PHC string or legacy ``$2a$/$2b$/$2y$`` bcrypt).

    Never raises for bad input: an unknown or garbled hash spends a dummy verification (so a
    disabled or corrupt account is not distinguishable by timing) and returns ``ok=False``.
    Passwords over :data:`MAX_PASSWORD_CHARS` fail without hashing.
    """
    data = _prepare(pw)
    if data is None:
        return _FAIL
    result: VerifyResult | None = None
    if isinstance(stored_hash, str) and stored_hash.isascii():
        if stored_hash.startswith("$argon2"):
            result = _verify_argon2(stored_hash, data, params)
        elif stored_hash.startswith(_BCRYPT_PREFIXES):
            result = _verify_bcrypt(stored_hash, pw, data, params)
    if result is None:
        dummy_verify(pw, params=params)
        return _FAIL
    return result
