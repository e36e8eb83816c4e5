"""The fast path's building blocks: strict base64url, strict JSON, and JWK loading rules."""

from __future__ import annotations

import base64
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from idgate.jose import ASYMMETRIC_ALGS, generate_signing_key
from idgate.jose.pubkeys import _ROCA_SUBGROUPS, b64url_decode, has_roca_fingerprint, load_jwk, load_jwks
from idgate.jose.verify import parse_json_object

VECTORS = Path(__file__).parent.parent / "vectors" / "wycheproof"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(n: int) -> str:
    return b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


@pytest.fixture(scope="module")
def es256_jwk() -> dict[str, Any]:
    return generate_signing_key("ES256").public_jwk


# --- base64url ------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"f", b"fo", b"foo", b"\xff\xfe\xfd\xfc", bytes(range(256))])
def test_b64url_round_trip(data: bytes) -> None:
    assert b64url_decode(b64(data)) == data


@pytest.mark.parametrize("text", ["Zg==", "Zg=", "Zm9v=", "Z", "Zm9vY", "Zm 9v", "Zm9v\n", "Zm+v", "Zm/v", "Zm9v!", "Zh", "Zm9", "Zé"])
def test_b64url_refuses_padding_foreign_characters_and_non_canonical_forms(text: str) -> None:
    with pytest.raises(ValueError):
        b64url_decode(text)


# --- JSON ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":1,"a":2}',
        b'{"a":{"b":1,"b":1}}',
        b'[{"a":1}]',
        b'"str"',
        b"null",
        b"1",
        b'{"a":NaN}',
        b'{"a":Infinity}',
        b'{"a":-Infinity}',
        b"\xef\xbb\xbf{}",
        '{"a":1}'.encode("utf-16"),
        b'{"a":"\xff"}',
        b"{" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b"{}  x",
        b'{"a":' + b"1" * 5000 + b"}",
    ],
)
def test_parse_json_object_is_strict(raw: bytes) -> None:
    with pytest.raises(ValueError):
        parse_json_object(raw)


def test_parse_json_object_accepts_ordinary_json() -> None:
    assert parse_json_object(b' { "a" : [1, 2.5, "x", null, true] ,\n"b":{}} ') == {"a": [1, 2.5, "x", None, True], "b": {}}


# --- JWK loading -----------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ASYMMETRIC_ALGS)
def test_every_alg_loads_from_its_public_jwk(alg: str) -> None:
    jwk = generate_signing_key(alg).public_jwk
    key = load_jwk(jwk, ASYMMETRIC_ALGS)
    assert key is not None and (key.kid, key.alg) == (jwk["kid"], alg)


@pytest.mark.parametrize(
    "change",
    [
        {"use": "enc"},
        {"key_ops": ["encrypt"]},
        {"key_ops": "verify"},
        {"d": "AAAA"},
        {"kid": ""},
        {"kid": 7},
        {"kid": "k" * 257},
        {"alg": "ES384"},
        {"alg": "HS256"},
        {"alg": "none"},
        {"crv": "P-384"},
        {"x": "AAAA"},
        {"x": 12},
        {"y": "not base64!"},
        {"kty": "RSA"},
        {"kty": "nope"},
    ],
)
def test_doubtful_jwks_are_skipped(es256_jwk: dict[str, Any], change: dict[str, Any]) -> None:
    assert load_jwk(es256_jwk, ASYMMETRIC_ALGS) is not None
    assert load_jwk({**es256_jwk, **change}, ASYMMETRIC_ALGS) is None


def test_missing_kid_is_skipped(es256_jwk: dict[str, Any]) -> None:
    assert load_jwk({k: v for k, v in es256_jwk.items() if k != "kid"}, ASYMMETRIC_ALGS) is None


def test_ec_coordinates_must_have_the_full_field_size(es256_jwk: dict[str, Any]) -> None:
    # RFC 7518 §6.2.1.2: a zero-prefixed (or zero-stripped) coordinate is another spelling
    # of the same point; only the exact size is accepted.
    for member in ("x", "y"):
        longer = b"\x00" + b64url_decode(es256_jwk[member])
        assert load_jwk({**es256_jwk, member: b64(longer)}, ASYMMETRIC_ALGS) is None


def test_a_point_off_the_curve_is_skipped(es256_jwk: dict[str, Any]) -> None:
    y = bytearray(b64url_decode(es256_jwk["y"]))
    y[-1] ^= 1
    assert load_jwk({**es256_jwk, "y": b64(bytes(y))}, ASYMMETRIC_ALGS) is None


def test_key_not_in_the_allow_list_is_skipped(es256_jwk: dict[str, Any]) -> None:
    assert load_jwk(es256_jwk, ("EdDSA",)) is None


def test_rsa_key_without_alg_is_skipped() -> None:
    jwk = generate_signing_key("RS256").public_jwk
    assert load_jwk({k: v for k, v in jwk.items() if k != "alg"}, ASYMMETRIC_ALGS) is None


def test_rsa_keys_under_2048_bits_are_skipped() -> None:
    small = rsa.generate_private_key(65537, 1024).public_key().public_numbers()
    jwk = {"kty": "RSA", "alg": "RS256", "kid": "small", "n": uint(small.n), "e": uint(small.e)}
    assert load_jwk(jwk, ASYMMETRIC_ALGS) is None


def test_ed448_and_unknown_curves_are_skipped() -> None:
    x = ed448.Ed448PrivateKey.generate().public_key().public_bytes_raw()
    assert load_jwk({"kty": "OKP", "crv": "Ed448", "kid": "e", "x": b64(x)}, ASYMMETRIC_ALGS) is None
    assert load_jwk({"kty": "OKP", "crv": "Ed448", "alg": "EdDSA", "kid": "e", "x": b64(x)}, ASYMMETRIC_ALGS) is None
    point = ec.generate_private_key(ec.SECP521R1()).public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-521", "kid": "p", "x": uint(point.x), "y": uint(point.y)}
    assert load_jwk(jwk, ASYMMETRIC_ALGS) is None


def test_oct_keys_need_explicit_permission_and_32_bytes() -> None:
    jwk = {"kty": "oct", "alg": "HS256", "kid": "hs", "k": b64(b"s" * 32)}
    assert load_jwk(jwk, ("HS256",)) is None
    assert load_jwk(jwk, ("HS256",), allow_symmetric=True) is not None
    assert load_jwk({**jwk, "k": b64(b"s" * 31)}, ("HS256",), allow_symmetric=True) is None


def test_duplicate_kids_are_both_dropped(es256_jwk: dict[str, Any]) -> None:
    other = dict(generate_signing_key("ES256").public_jwk, kid=es256_jwk["kid"])
    third = generate_signing_key("ES256").public_jwk
    assert set(load_jwks({"keys": [es256_jwk, other, third]}, ASYMMETRIC_ALGS)) == {third["kid"]}


@pytest.mark.parametrize("jwks", [None, [], {"keys": None}, {"keys": {}}, {"keys": [1, "a", None]}, "keys"])
def test_malformed_sets_give_no_keys(jwks: Any) -> None:
    assert load_jwks(jwks, ASYMMETRIC_ALGS) == {}


def test_key_sets_are_bounded(es256_jwk: dict[str, Any]) -> None:
    many = [dict(es256_jwk, kid=f"k{i}") for i in range(150)]
    assert len(load_jwks({"keys": many}, ASYMMETRIC_ALGS)) == 100


# --- ROCA (CVE-2017-15361) ----------------------------------------------------------------------


def test_roca_key_from_wycheproof_is_fingerprinted() -> None:
    data = json.loads((VECTORS / "json_web_crypto_test.json").read_text())
    group = next(g for g in data["testGroups"] if g["comment"] == "jws_rsa_roca_key")
    n = int.from_bytes(b64url_decode(group["public"]["n"]), "big")
    assert has_roca_fingerprint(n)
    assert load_jwk(group["public"], ASYMMETRIC_ALGS) is None
    assert load_jwk(dict(group["public"], n=uint(n + 2)), ASYMMETRIC_ALGS) is not None


def test_ordinary_keys_are_not_fingerprinted() -> None:
    for alg in ("RS256", "PS256"):
        assert load_jwk(generate_signing_key(alg).public_jwk, ASYMMETRIC_ALGS) is not None
    for _ in range(2):
        assert not has_roca_fingerprint(rsa.generate_private_key(65537, 2048).public_key().public_numbers().n)


def test_roca_false_positive_rate_is_negligible() -> None:
    # Chance that a random modulus lands in every subgroup by accident.
    rate = Fraction(1)
    for r, group in _ROCA_SUBGROUPS:
        rate *= Fraction(len(group), r - 1)
    assert rate < Fraction(1, 2**160)


# --- base64url, property-based ---------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=100))
def test_b64url_decodes_every_canonical_encoding(data: bytes) -> None:
    assert b64url_decode(b64(data)) == data


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= .?\n\x00é", max_size=40))
def test_b64url_accepts_only_the_one_canonical_spelling(text: str) -> None:
    try:
        data = b64url_decode(text)
    except ValueError:
        return
    assert b64(data) == text
