"""Argon2id hashing, legacy bcrypt upgrade, rehash and failure behaviour."""

from __future__ import annotations

import base64

import pytest

from idgate.errors import ConfigError, WeakPassword
from idgate.passwords import MAX_PASSWORD_CHARS, HashParams, VerifyResult, dummy_verify, hash_password, verify_password
from idgate.passwords import hashing

# Made once with bcrypt (cost 4, to keep tests fast); the tests themselves import no hash library.
BCRYPT_LEGACY = "$2b$04$1SpkjaXjqn.aWmewMJHU4OHgPLzMNjfvICz7Gydv0aKI4ST8LoZn2"  # "legacy-password-123"
BCRYPT_72_X = "$2b$04$5WnezbEmLML/BkQmZLXede4wPeh3CTEJcYt591GM/.4ptrgY2HNBW"  # "x" * 72
BCRYPT_FULLWIDTH_RAW = "$2b$04$faRV95P4hJ4jXB8XDeIRYec28Utr0YELxRYZkQWDxeloRogYCwN6e"  # "ｆｕｌｌｗｉｄｔｈ-pass", not NFKC'd


def _b64(s: str) -> bytes:
    return base64.b64decode(s + "=" * (-len(s) % 4))


def parse_phc(phc: str) -> tuple[str, str, str, bytes, bytes]:
    _, alg, version, params, salt, digest = phc.split("$")
    return alg, version, params, _b64(salt), _b64(digest)


def test_argon2id_with_owasp_parameters() -> None:
    alg, version, params, salt, digest = parse_phc(hash_password("correct horse battery staple"))
    assert alg == "argon2id"
    assert version == "v=19"
    assert params == "m=19456,t=2,p=1"
    assert len(salt) == 16
    assert len(digest) == 32


def test_salt_is_per_hash() -> None:
    a, b = hash_password("same password twice"), hash_password("same password twice")
    assert a != b
    assert parse_phc(a)[3] != parse_phc(b)[3]
    assert verify_password(a, "same password twice") == VerifyResult(True, None)
    assert verify_password(b, "same password twice").ok


def test_wrong_password_fails() -> None:
    assert verify_password(hash_password("right password here"), "wrong password here") == VerifyResult(False)


def test_rehash_when_parameters_change() -> None:
    old = hash_password("rehash me please", params=HashParams(time_cost=3))
    assert parse_phc(old)[2] == "m=19456,t=3,p=1"
    result = verify_password(old, "rehash me please")
    assert result.ok and result.new_hash is not None
    assert parse_phc(result.new_hash)[:3] == ("argon2id", "v=19", "m=19456,t=2,p=1")
    assert verify_password(result.new_hash, "rehash me please") == VerifyResult(True, None)
    # a wrong password never yields a new hash
    assert verify_password(old, "not the password") == VerifyResult(False)


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
def test_bcrypt_legacy_verified_and_upgraded(prefix: str) -> None:
    stored = prefix + BCRYPT_LEGACY[4:]
    result = verify_password(stored, "legacy-password-123")
    assert result.ok
    assert result.new_hash is not None and result.new_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password(result.new_hash, "legacy-password-123") == VerifyResult(True, None)
    assert verify_password(stored, "legacy-password-124") == VerifyResult(False)


def test_bcrypt_over_72_bytes_refused_not_truncated() -> None:
    assert verify_password(BCRYPT_72_X, "x" * 72).ok
    # bcrypt itself would accept this (it only reads 72 bytes); we refuse instead.
    assert verify_password(BCRYPT_72_X, "x" * 73) == VerifyResult(False)
    assert verify_password(BCRYPT_72_X, "x" * 72 + "anything else") == VerifyResult(False)


def test_bcrypt_legacy_raw_unicode_still_verifies() -> None:
    result = verify_password(BCRYPT_FULLWIDTH_RAW, "ｆｕｌｌｗｉｄｔｈ-pass")
    assert result.ok and result.new_hash is not None
    # after the upgrade the NFKC form is what is stored, so both spellings match
    assert verify_password(result.new_hash, "fullwidth-pass").ok


def test_bcrypt_2x_variant_not_supported() -> None:
    assert verify_password("$2x$" + BCRYPT_LEGACY[4:], "legacy-password-123") == VerifyResult(False)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "garbage",
        "!",  # a "locked" marker some systems use
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA",
        "$argon2id$v=19$m=19456,t=2,p=1$!!!!$!!!!",
        "$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",  # absurd memory
        "$argon2x$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        "$2b$04$tooshort",
        "$2b$31$" + BCRYPT_LEGACY[7:],  # absurd cost
        "$1$md5crypt$xxxxxxxxxxxxxxxxxxxxxx",
        "pbkdf2_sha256$600000$salt$hash",
        "$argon2id$v=19$m=19456,t=2,p=1$é$é",
        None,
        12345,
    ],
)
def test_garbled_hash_is_false_never_raises(stored: object) -> None:
    assert verify_password(stored, "whatever password") == VerifyResult(False)  # type: ignore[arg-type]


def test_length_bound() -> None:
    stored = hash_password("a reasonable password")
    assert verify_password(stored, "a" * (MAX_PASSWORD_CHARS + 1)) == VerifyResult(False)
    with pytest.raises(WeakPassword):
        hash_password("a" * (MAX_PASSWORD_CHARS + 1))
    with pytest.raises(WeakPassword):
        hash_password("")
    # NFKC can expand: U+FDFA becomes 18 characters
    with pytest.raises(WeakPassword):
        hash_password("\ufdfa" * 100)
    long_ok = "b" * MAX_PASSWORD_CHARS
    assert verify_password(hash_password(long_ok), long_ok).ok


def test_nfkc_applied_in_hash_and_verify() -> None:
    stored = hash_password("ｐａｓｓｐｈｒａｓｅ ｃａｆé")  # full-width letters, precomposed é
    assert verify_password(stored, "passphrase cafe\u0301").ok  # ASCII + combining accent


def test_lone_surrogate_refused() -> None:
    with pytest.raises(WeakPassword):
        hash_password("bad \ud800 surrogate")
    assert verify_password(hash_password("good password"), "bad \ud800 surrogate") == VerifyResult(False)


def test_dummy_verify_uses_same_parameters() -> None:
    assert dummy_verify("anything") is False
    dummy = hashing.dummy_hash(hashing.DEFAULT_PARAMS)
    assert parse_phc(dummy)[:3] == parse_phc(hash_password("x"))[:3]
    stronger = HashParams(memory_cost=2 * 19456)
    assert parse_phc(hashing.dummy_hash(stronger))[2] == "m=38912,t=2,p=1"


@pytest.mark.parametrize(
    ("key", "value"),
    [("memory_cost", 19455), ("time_cost", 1), ("parallelism", 0), ("salt_len", 8), ("hash_len", 16)],
)
def test_params_below_owasp_refused(key: str, value: int) -> None:
    with pytest.raises(ConfigError, match=key):
        HashParams(**{key: value})


def test_params_upward_allowed() -> None:
    p = HashParams(memory_cost=65536, time_cost=3, parallelism=2, salt_len=32, hash_len=64)
    alg, _, params, salt, digest = parse_phc(hash_password("stronger", params=p))
    assert (alg, params, len(salt), len(digest)) == ("argon2id", "m=65536,t=3,p=2", 32, 64)
    with pytest.raises(ConfigError, match="time_cost"):
        HashParams(time_cost=2.5)  # type: ignore[arg-type]
