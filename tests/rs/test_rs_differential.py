"""Differential test over the forgery corpus: idgate's fast path versus joserfc.

For every forged or odd token, the fast path must reach joserfc's verdict or a stricter one;
each stricter verdict is listed below with its reason, and the test fails if the list goes
stale. Two levels are compared: the bare signature layer and the whole access-token check.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization
from rs_support import AUDIENCE, DROP, ISSUER, NOW, b64, claims, forge, header_for, signing_key, token, verifier

from idgate.errors import InvalidToken
from idgate.jose import ASYMMETRIC_ALGS
from idgate.jose.reference import reference_decode, reference_verify_signature
from idgate.jose.verify import verify_compact_signature

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
KEY = signing_key("ES256")
ATTACKER = signing_key("ES256", 3)


def _hs256_with_public_key() -> str:
    pem = serialization.load_pem_private_key(KEY.private_pem(), None).public_key().public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'kid': KEY.kid, 'typ': 'at+jwt'}))}.{b64(json.dumps(claims()))}"
    mac = hmac.HMAC(pem, hashes.SHA256())
    mac.update(signing_input.encode())
    return f"{signing_input}.{b64(mac.finalize())}"


def _psychic(r: int, s: int) -> str:
    return forge(header_for(), claims(), signature=r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def corpus() -> dict[str, str]:
    dup_exp = json.dumps(claims(exp=DROP))[:-1] + f', "exp": {NOW - 10_000}, "exp": {NOW + 600}}}'
    out = {
        "control": forge(header_for(), claims()),
        "control_sign_jwt": token(),
        "alg_none": forge(header_for(alg="none"), claims(), signature=b""),
        "alg_None": forge(header_for(alg="None"), claims(), signature=b""),
        "alg_NONE_signed": forge(header_for(alg="NONE"), claims(), signature=b"\x00" * 64),
        "alg_nOnE": forge(header_for(alg="nOnE"), claims(), signature=b""),
        "hs256_public_key": _hs256_with_public_key(),
        "psychic_zero": _psychic(0, 0),
        "psychic_n": _psychic(P256_N, P256_N),
        "embedded_jwk_attacker": forge(header_for(jwk=dict(ATTACKER.public_jwk, kid=KEY.kid)), claims(), ATTACKER),
        "embedded_jwk_real": forge(header_for(jwk=KEY.public_jwk), claims()),
        "jku": forge(header_for(jku="https://attacker.example/jwks"), claims()),
        "x5u": forge(header_for(x5u="https://attacker.example/c.pem"), claims()),
        "x5c": forge(header_for(x5c=["MIIB"]), claims()),
        "kid_traversal": forge(header_for(kid="../../etc/passwd"), claims(), ATTACKER),
        "kid_sql": forge(header_for(kid="' OR 1=1 --"), claims(), ATTACKER),
        "kid_nul": forge(header_for(kid="a\x00b"), claims(), ATTACKER),
        "attacker_key_real_kid": forge(header_for(), claims(), ATTACKER),
        "crit": forge(header_for(crit=["exp"]), claims()),
        "b64_false": forge(header_for(b64=False, crit=["b64"]), claims()),
        "b64_false_no_crit": forge(header_for(b64=False), claims()),
        "zip": forge(header_for(zip="DEF"), claims()),
        "dup_alg": forge(f'{{"alg":"none","alg":"ES256","kid":"{KEY.kid}","typ":"at+jwt"}}', claims()),
        "dup_exp": forge(header_for(), dup_exp),
        "typ_jwt": forge(header_for(typ="JWT"), claims()),
        "typ_missing": forge({"alg": "ES256", "kid": KEY.kid}, claims()),
        "kid_missing": forge({"alg": "ES256", "typ": "at+jwt"}, claims()),
        "expired": forge(header_for(), claims(exp=NOW - 100, iat=NOW - 1000)),
        "nbf_future": forge(header_for(), claims(nbf=NOW + 600)),
        "iat_future": forge(header_for(), claims(iat=NOW + 600, exp=NOW + 900)),
        "wrong_iss": forge(header_for(), claims(iss="https://evil.example")),
        "wrong_aud": forge(header_for(), claims(aud="https://other.example")),
        "string_exp": forge(header_for(), claims(exp=str(NOW + 600))),
        "bool_exp": forge(header_for(), claims(exp=True)),
        "huge_exp": forge(header_for(), claims(exp=10**30)),
        "oversized": forge(header_for(), claims(pad="p" * 9000)),
        "nested": forge(header_for(), json.dumps(claims())[:-1] + ', "deep": ' + "[" * 3000 + "]" * 3000 + "}"),
        "padded_signature": forge(header_for(), claims()) + "==",
        "payload_array": forge(header_for(), "[1,2]"),
        "json_serialization": json.dumps({"protected": "e30", "payload": "e30", "signature": "AA"}),
    }
    for name in ("exp", "iat", "sub", "jti", "client_id", "iss", "aud"):
        out[f"missing_{name}"] = forge(header_for(), claims(**{name: DROP}))
    return out


CORPUS = corpus()

# Tokens the fast path refuses although joserfc accepts them, and why. STRICTER_SIG is for the
# bare signature layer; STRICTER_FULL for the whole access-token check, where the reference is
# joserfc's jwt.decode plus JWTClaimsRegistry with every RFC 9068 claim marked essential.
KEY_REFERENCE = "RFC 8725 §3.10: key references in the header are refused even when unused"
STRICTER_SIG = {
    "embedded_jwk_real": KEY_REFERENCE,
    "jku": KEY_REFERENCE,
    "x5u": KEY_REFERENCE,
    "x5c": KEY_REFERENCE,
    "b64_false": "RFC 7797 unencoded payloads are refused (crit is unsupported); joserfc implements b64",
    "dup_alg": "duplicate header names refused (RFC 7515 §5.2); joserfc keeps the last 'alg'",
    "kid_missing": "the key is chosen only by kid; joserfc was handed the key directly",
    "oversized": "8192-byte ceiling before parsing; joserfc allows 128 kB payloads",
    "nested": "8192-byte ceiling before parsing; joserfc allows 128 kB payloads",
}
STRICTER_FULL = {
    "embedded_jwk_real": KEY_REFERENCE,
    "jku": KEY_REFERENCE,
    "x5u": KEY_REFERENCE,
    "x5c": KEY_REFERENCE,
    "dup_alg": STRICTER_SIG["dup_alg"],
    "dup_exp": "duplicate claim names refused (RFC 7519 §7.2); joserfc keeps the last 'exp'",
    "kid_missing": STRICTER_SIG["kid_missing"],
    "oversized": STRICTER_SIG["oversized"],
    "typ_jwt": "RFC 9068 §4: typ must be at+jwt; joserfc's decode does not look at typ",
    "typ_missing": "RFC 9068 §4: typ is required",
    "huge_exp": "lifetime ceiling: exp - iat <= max_lifetime (86400 s)",
}


def outcome(fn: Any, *args: Any, **kwargs: Any) -> str:
    try:
        fn(*args, **kwargs)
    except InvalidToken:
        return "reject"
    return "accept"


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_signature_layer_matches_joserfc_or_is_stricter(name: str) -> None:
    tok = CORPUS[name]
    fast = outcome(verify_compact_signature, tok, KEY.public_jwk, ASYMMETRIC_ALGS)
    ref = outcome(reference_verify_signature, tok, KEY.public_jwk, ASYMMETRIC_ALGS)
    if fast == "accept":
        assert ref == "accept", "the fast path accepted what joserfc rejects"
    assert (fast == "reject" and ref == "accept") == (name in STRICTER_SIG)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_whole_token_matches_joserfc_or_is_stricter(name: str) -> None:
    tok = CORPUS[name]
    fast = outcome(verifier(KEY).verify, tok)
    ref = outcome(reference_decode, tok, KEY.public_jwk, issuer=ISSUER, audience=AUDIENCE, now=NOW)
    if fast == "accept":
        assert ref == "accept", "the fast path accepted what joserfc rejects"
    assert (fast == "reject" and ref == "accept") == (name in STRICTER_FULL)


def test_only_the_controls_are_accepted() -> None:
    accepted = {name for name, tok in CORPUS.items() if outcome(verifier(KEY).verify, tok) == "accept"}
    assert accepted == {"control", "control_sign_jwt"}
