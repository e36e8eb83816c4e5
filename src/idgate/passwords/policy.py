"""Rules for a *new* password, after NIST SP 800-63B-4 (2025) §3.1.1.2 "Password Verifiers".

* Length: at least 15 characters when the password is the only factor, at least 8 when it is
  used with a second factor; at most :data:`MAX_PASSWORD_CHARS` (NIST: permit at least 64).
  Characters are Unicode code points counted after NFKC normalisation, so any character,
  emoji and CJK included, counts as one.
* No composition rules (no "one digit, one symbol"): NIST says verifiers SHALL NOT impose them.
* Blocklist: refused if the password is a known common/breached password (case-insensitive),
  or equals or contains a context-specific word (username, email local part, name, "idgate").

The blocklist check fails *closed*: if the shipped list is missing or corrupt,
:class:`PasswordListUnavailable` is raised instead of letting every password through.

Blocklist file format (``common-passwords.bin``, written by ``scripts/build_password_list.py``):
each entry is the first 48 bits of SHA-256(casefold(NFKC(password))). The top 16 bits pick one
of 65536 buckets (an offset table), the low 32 bits are stored sorted per bucket and found with
bisect. With N entries the chance that a password *not* on the list is refused anyway is
about N / 2**48 (≈ 3.5e-9 for a million entries). A trailing SHA-256 of the file detects
truncation or corruption.
"""

from __future__ import annotations

import functools
import hashlib
import struct
import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from idgate.errors import IdgateError, WeakPassword

from .hashing import MAX_PASSWORD_CHARS, normalize_password

__all__ = [
    "MIN_LENGTH",
    "MIN_LENGTH_WITH_SECOND_FACTOR",
    "CommonPasswordList",
    "PasswordListUnavailable",
    "check_new_password",
    "common_passwords",
]

MIN_LENGTH = 15  # NIST SP 800-63B-4 §3.1.1.2: SHALL be at least 15 when single-factor
MIN_LENGTH_WITH_SECOND_FACTOR = 8  # ... and at least 8 when used only as part of MFA
MIN_CONTEXT_WORD = 4  # shorter words ("bob", "ann") would refuse too many good passphrases
SERVICE_WORDS = ("idgate",)

LIST_RESOURCE = "common-passwords.bin"
_MAGIC = b"IDGPWL1\n"
_HEADER = struct.Struct("<8sIBB2x")  # magic, count, bucket_bits, key_bits
_BUCKET_BITS = 16
_KEY_BITS = 48
_LOW_BITS = _KEY_BITS - _BUCKET_BITS
_DIGEST = 32


class PasswordListUnavailable(IdgateError):
    """The common-password list could not be loaded; new passwords are refused (fail closed)."""

    error = "server_error"
    status_code = 500
    description = "The password policy is unavailable; try again later."


def fold(pw: str) -> str:
    """The form compared against the list: NFKC (as hashing does) then case-folded."""
    return normalize_password(pw).casefold()


def list_key(pw: str) -> int:
    """48-bit key of a password for the blocklist (SHA-256 prefix of its folded UTF-8)."""
    digest = hashlib.sha256(fold(pw).encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[: _KEY_BITS // 8], "big")


def encode_list(keys: Iterable[int]) -> bytes:
    """Serialise 48-bit keys into the blocklist file format (used by the build script)."""
    unique = sorted(set(keys))
    buckets = 1 << _BUCKET_BITS
    offsets = array("I", [0]) * (buckets + 1)
    for k in unique:
        offsets[(k >> _LOW_BITS) + 1] += 1
    for i in range(buckets):
        offsets[i + 1] += offsets[i]
    low = array("I", (k & 0xFFFFFFFF for k in unique))
    if sys.byteorder == "big":
        offsets.byteswap()
        low.byteswap()
    body = _HEADER.pack(_MAGIC, len(unique), _BUCKET_BITS, _KEY_BITS) + offsets.tobytes() + low.tobytes()
    return body + hashlib.sha256(body).digest()


class CommonPasswordList:
    """Membership test against a compact list of hashed common passwords."""

    def __init__(self, data: bytes) -> None:
        if array("I").itemsize != 4:  # pragma: no cover - every mainstream platform
            raise PasswordListUnavailable(detail="array('I') is not 32-bit here")
        buckets = 1 << _BUCKET_BITS
        try:
            magic, count, bucket_bits, key_bits = _HEADER.unpack_from(data)
        except struct.error:
            raise PasswordListUnavailable(detail="password list truncated") from None
        body_len = _HEADER.size + 4 * (buckets + 1) + 4 * count
        if (
            magic != _MAGIC
            or (bucket_bits, key_bits) != (_BUCKET_BITS, _KEY_BITS)
            or len(data) != body_len + _DIGEST
            or hashlib.sha256(data[:body_len]).digest() != data[body_len:]
        ):
            raise PasswordListUnavailable(detail="password list corrupt or of an unknown format")
        self._offsets = array("I", data[_HEADER.size : _HEADER.size + 4 * (buckets + 1)])
        self._low = array("I", data[_HEADER.size + 4 * (buckets + 1) : body_len])
        if sys.byteorder == "big":  # pragma: no cover
            self._offsets.byteswap()
            self._low.byteswap()
        if self._offsets[0] != 0 or self._offsets[-1] != count:
            raise PasswordListUnavailable(detail="password list offsets inconsistent")
        self._count = count

    @classmethod
    def load(cls, path: str | Path) -> CommonPasswordList:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise PasswordListUnavailable(detail=f"cannot read password list {path}: {exc}") from exc
        return cls(data)

    def __len__(self) -> int:
        return self._count

    @property
    def false_positive_rate(self) -> float:
        """Chance that a password not on the source list is reported as listed."""
        return self._count / 2**_KEY_BITS

    def __contains__(self, pw: object) -> bool:
        if not isinstance(pw, str):
            return False
        key = list_key(pw)
        bucket, low = key >> _LOW_BITS, key & 0xFFFFFFFF
        lo, hi = self._offsets[bucket], self._offsets[bucket + 1]
        i = bisect_left(self._low, low, lo, hi)
        return i < hi and self._low[i] == low


@functools.lru_cache(maxsize=1)
def common_passwords() -> CommonPasswordList:
    """The shipped list, loaded once (~4 MB). Failures are not cached, so a fixed file is retried."""
    try:
        data = resources.files(__package__).joinpath(LIST_RESOURCE).read_bytes()
    except OSError as exc:
        raise PasswordListUnavailable(detail=f"cannot read {LIST_RESOURCE}: {exc}") from exc
    return CommonPasswordList(data)


def _context_terms(context_words: Iterable[str]) -> set[str]:
    terms: set[str] = set()
    for word in (*context_words, *SERVICE_WORDS):
        if not isinstance(word, str):
            continue
        folded = fold(word).strip()
        terms.add(folded)
        if "@" in folded:  # an email address: its local part is what users reuse
            terms.add(folded.rsplit("@", 1)[0])
    return {t for t in terms if len(t) >= MIN_CONTEXT_WORD}


def _refuse(code: str, message: str) -> WeakPassword:
    return WeakPassword(message, detail=code)


def check_new_password(
    pw: str,
    *,
    has_second_factor: bool = False,
    context_words: Iterable[str] = (),
    blocklist: CommonPasswordList | None = None,
) -> None:
    """Raise :class:`~idgate.errors.WeakPassword` (with a user-facing reason) if ``pw`` breaks policy.

    ``context_words`` are the user's username, email, display name...; the service name is
    always included. ``blocklist`` defaults to the shipped list; if that can't be loaded,
    :class:`PasswordListUnavailable` is raised (fail closed).
    """
    # Load first so a broken deployment is refused for every password, not just strong ones.
    blocklist = blocklist if blocklist is not None else common_passwords()
    if not isinstance(pw, str):
        raise _refuse("not_text", "The password must be text.")
    if len(pw) > MAX_PASSWORD_CHARS:  # bound the work before normalising
        raise _refuse("too_long", f"Use at most {MAX_PASSWORD_CHARS} characters.")
    norm = normalize_password(pw)
    minimum = MIN_LENGTH_WITH_SECOND_FACTOR if has_second_factor else MIN_LENGTH
    if len(norm) < minimum:
        raise _refuse("too_short", f"Use at least {minimum} characters.")
    if len(norm) > MAX_PASSWORD_CHARS:
        raise _refuse("too_long", f"Use at most {MAX_PASSWORD_CHARS} characters.")
    try:
        norm.encode("utf-8")
    except UnicodeEncodeError:
        raise _refuse("invalid_unicode", "The password contains invalid characters.") from None
    folded = norm.casefold()
    for term in _context_terms(context_words):
        if term in folded:
            raise _refuse("context_word", "The password must not contain your username, email, name or the service name.")
    if pw in blocklist:
        raise _refuse("common", "This password is too common; choose a different one.")
