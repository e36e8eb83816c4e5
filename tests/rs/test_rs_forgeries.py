"""Forged and malformed tokens, one test per attack class (RFC 8725 §2, RFC 9068 §4).

Where possible each forgery is correctly signed by the real key, so that the rule under test
is the only thing standing between it and acceptance: removing the rule fails the test.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization
from rs_support import (
    DROP,
    NOW,
    FixedClock,
    b64,
    claims,
    forge,
    header_for,
    jwks_of,
    signing_key,
    token,
    verifier,
)

import idgate.jose.pubkeys
from idgate.errors import ConfigError
from idgate.jose import ASYMMETRIC_ALGS
from idgate.jose.pubkeys import load_jwk
from idgate.jose.verify import verify_compact
from idgate.rs import InvalidToken, Verifier

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def reason(tok: object, v: Verifier | None = None) -> str:
    with pytest.raises(InvalidToken) as info:
        (v or verifier()).verify(tok)
    return info.value.reason


def test_the_control_token_is_accepted() -> None:
    # Every forgery below differs from this token in exactly one respect.
    assert verifier().verify(forge(header_for(), claims()))


# --- alg: none (RFC 8725 §2.1) ----------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", [b"", b"\x00" * 64])
def test_alg_none_in_every_capitalisation(alg: str, signature: bytes) -> None:
    tok = forge(header_for(alg=alg), claims(), signature=signature)
    assert reason(tok) == "alg_none"
    # Even a verifier whose allow-list is wide open to its keys never reaches the key.
    assert reason(tok, verifier(*(signing_key(a) for a in ASYMMETRIC_ALGS))) == "alg_none"


def test_alg_none_without_the_signature_separator() -> None:
    tok = forge(header_for(alg="none"), claims(), signature=b"").rstrip(".")
    assert reason(tok) == "malformed"


# --- HS256 signed with the public key (RFC 8725 §2.1, "key confusion") ------------------------


def _public_encodings(alg: str) -> dict[str, bytes]:
    key = signing_key(alg)
    public = serialization.load_pem_private_key(key.private_pem(), None).public_key()  # type: ignore[union-attr]
    pem = serialization.Encoding.PEM
    out = {
        "pem_spki": public.public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo),
        "jwk_json": json.dumps(key.public_jwk).encode(),
        "jwk_json_sorted": json.dumps(key.public_jwk, sort_keys=True, separators=(",", ":")).encode(),
    }
    if alg.startswith(("RS", "PS")):
        out["pem_pkcs1"] = public.public_bytes(pem, serialization.PublicFormat.PKCS1)
        out["der_spki"] = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    elif alg == "EdDSA":
        out["raw_x"] = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        out["raw_point"] = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return out


def _hs256(secret: bytes, signing_input: bytes) -> bytes:
    mac = hmac.HMAC(secret, hashes.SHA256())
    mac.update(signing_input)
    return mac.finalize()


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
def test_hs256_signed_with_the_public_key_in_every_encoding(alg: str) -> None:
    key = signing_key(alg)
    header = {"alg": "HS256", "kid": key.kid, "typ": "at+jwt"}
    signing_input = f"{b64(json.dumps(header))}.{b64(json.dumps(claims()))}"
    # The lower layer, with HS256 even in the allow-list: the key's own alg decides.
    vk = load_jwk(key.public_jwk, ASYMMETRIC_ALGS)
    assert vk is not None
    for name, secret in _public_encodings(alg).items():
        tok = f"{signing_input}.{b64(_hs256(secret, signing_input.encode()))}"
        assert reason(tok, verifier(key)) == "alg_not_allowed", name
        with pytest.raises(InvalidToken) as info:
            verify_compact(tok, {key.kid: vk}.get, ASYMMETRIC_ALGS + ("HS256",))
        assert info.value.reason == "alg_key_mismatch", name


def test_an_oct_key_can_never_carry_a_public_keys_kid_next_to_it() -> None:
    es = signing_key("ES256")
    secret = _public_encodings("ES256")["pem_spki"]
    oct_jwk = {"kty": "oct", "alg": "HS256", "kid": es.kid + "-hs", "k": b64(secret)}
    with pytest.raises(ConfigError):  # the secret sits in a published set: no usable key left
        Verifier("https://localhost:8443", "https://api.example", jwks={"keys": [es.public_jwk, oct_jwk]}, algorithms=["HS256"])


# --- psychic ECDSA signatures (CVE-2022-21449) --------------------------------------------------


@pytest.mark.parametrize(("r", "s"), [(0, 0), (P256_N, P256_N), (0, 1), (1, 0), (P256_N, 1), (1, P256_N), (2**256 - 1, 1)])
def test_psychic_ecdsa_signatures_are_refused_before_cryptography_sees_them(
    r: int, s: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_be_called(*args: Any) -> bytes:
        raise AssertionError("an out-of-range (r, s) reached the DER encoder")

    v = verifier()  # keys are built before the patch
    monkeypatch.setattr(idgate.jose.pubkeys, "encode_dss_signature", must_not_be_called)
    tok = forge(header_for(), claims(), signature=r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    assert reason(tok, v) == "bad_signature"


def test_ecdsa_signature_must_be_raw_r_s_of_exact_length() -> None:
    good = forge(header_for(), claims())
    sig = idgate.jose.pubkeys.b64url_decode(good.rsplit(".", 1)[1])
    head = good.rsplit(".", 1)[0]
    # A zero between r and s keeps both values: only the length rule catches it.
    for bad in (sig[:-1], sig + b"\x00", b"\x00" + sig, sig[:32], b"\x30\x44" + sig, sig[:32] + b"\x00" + sig[32:]):
        assert reason(f"{head}.{b64(bad)}") == "bad_signature"


def test_the_p256_order_constant_is_right() -> None:
    # ECDSA malleability: (r, n - s) verifies iff n is the true group order.
    good = forge(header_for(), claims())
    head, sig_b64 = good.rsplit(".", 1)
    sig = idgate.jose.pubkeys.b64url_decode(sig_b64)
    s = int.from_bytes(sig[32:], "big")
    flipped = f"{head}.{b64(sig[:32] + (P256_N - s).to_bytes(32, 'big'))}"
    assert verifier().verify(flipped)


def test_the_p384_order_constant_is_right() -> None:
    key = signing_key("ES384")
    n = idgate.jose.pubkeys._EC_PARAMS["ES384"][3]
    good = forge(header_for(key), claims(), key)
    head, sig_b64 = good.rsplit(".", 1)
    sig = idgate.jose.pubkeys.b64url_decode(sig_b64)
    s = int.from_bytes(sig[48:], "big")
    assert verifier(key).verify(f"{head}.{b64(sig[:48] + (n - s).to_bytes(48, 'big'))}")
    assert reason(f"{head}.{b64(sig[:48] + n.to_bytes(48, 'big'))}", verifier(key)) == "bad_signature"


# --- key references in the header (RFC 8725 §3.10) ---------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("jwk", "attacker"),
        ("jku", "https://attacker.example/jwks"),
        ("x5u", "https://attacker.example/cert.pem"),
        ("x5c", ["MIIBattacker"]),
    ],
)
@pytest.mark.parametrize("signer", ["real", "attacker"])
def test_embedded_key_references_are_refused(name: str, value: Any, signer: str) -> None:
    real, attacker = signing_key("ES256"), signing_key("ES256", 3)
    if name == "jwk":
        value = dict(attacker.public_jwk, kid=real.kid)
    key = real if signer == "real" else attacker
    assert reason(forge(header_for(real, **{name: value}), claims(), key)) == "embedded_key"


# --- kid injection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kid",
    ["../../etc/passwd", "' OR 1=1 --", "kid\x00admin", "\x00", "a" * 257, "%00", "${jndi:ldap://x}", "../" * 80],
)
def test_weird_kids_just_fail_lookup(kid: str) -> None:
    calls: list[int] = []

    def provider() -> dict[str, Any]:
        calls.append(1)
        return jwks_of(signing_key("ES256"))

    v = Verifier("https://localhost:8443", "https://api.example", jwks=provider, clock=FixedClock())
    v.verify(token())
    assert reason(forge(header_for(kid=kid), claims()), v) == "unknown_kid"
    assert len(calls) == 1


def test_a_ten_thousand_character_kid() -> None:
    tok = forge(header_for(kid="k" * 10_000), claims())
    assert reason(tok) == "token_too_large"
    assert reason(tok, verifier(max_token_bytes=20_000)) == "unknown_kid"


@pytest.mark.parametrize("kid", [None, "", 7, ["kid"], {"kid": "x"}])
def test_kid_is_required_and_must_be_a_string(kid: Any) -> None:
    header = header_for(kid=kid) if kid is not None else {"alg": "ES256", "typ": "at+jwt"}
    assert reason(forge(header, claims())) == "missing_kid"


# --- unsupported header parameters --------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"crit": ["exp"]},
        {"crit": []},
        {"crit": ["b64"], "b64": False},
        {"b64": False},
        {"b64": True},
        {"zip": "DEF"},
    ],
)
def test_crit_b64_and_zip_are_refused(extra: dict[str, Any]) -> None:
    assert reason(forge(header_for(**extra), claims())) == "unsupported_header"


def test_b64_false_with_the_raw_payload_is_refused() -> None:
    key = signing_key("ES256")
    header = b64(json.dumps(header_for(key, b64=False, crit=["b64"])))
    payload = json.dumps(claims())
    sig = idgate.jose.pubkeys.b64url_decode(forge(header_for(key), claims()).rsplit(".", 1)[1])
    assert reason(f"{header}.{payload}.{b64(sig)}") == "malformed"


# --- duplicate JSON members (RFC 7515 §5.2, RFC 7519 §7.2) --------------------------------------


def test_duplicate_alg_in_the_header() -> None:
    key = signing_key("ES256")
    header = f'{{"alg":"none","alg":"ES256","kid":"{key.kid}","typ":"at+jwt"}}'
    assert reason(forge(header, claims())) == "malformed"


def test_duplicate_typ_in_the_header() -> None:
    key = signing_key("ES256")
    header = f'{{"alg":"ES256","kid":"{key.kid}","typ":"JWT","typ":"at+jwt"}}'
    assert reason(forge(header, claims())) == "malformed"


def test_duplicate_exp_in_the_payload() -> None:
    body = json.dumps(claims(exp=DROP))[:-1] + f', "exp": {NOW - 10_000}, "exp": {NOW + 600}}}'
    assert json.loads(body)["exp"] == NOW + 600  # what a last-wins parser would see
    assert reason(forge(header_for(), body)) == "malformed"


def test_duplicate_members_in_a_nested_payload_object() -> None:
    body = json.dumps(claims())[:-1] + ', "cnf": {"jkt": "a", "jkt": "b"}}'
    assert reason(forge(header_for(), body)) == "malformed"


# --- explicit typing (RFC 9068 §4, RFC 8725 §3.11) -----------------------------------------------


@pytest.mark.parametrize("typ", ["JWT", "jwt", "application/jwt", "at+jwt ", "secevent+jwt", "", 1, None])
def test_id_tokens_and_other_types_are_refused(typ: Any) -> None:
    assert reason(forge(header_for(typ=typ), claims())) == "wrong_typ"


def test_missing_typ_is_refused() -> None:
    header = header_for()
    del header["typ"]
    assert reason(forge(header, claims())) == "wrong_typ"


# --- claims (RFC 9068 §2.2 and §4) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"exp": NOW - 31, "iat": NOW - 900}, "expired"),
        ({"nbf": NOW + 31}, "not_yet_valid"),
        ({"iat": NOW + 600, "exp": NOW + 900}, "issued_in_future"),
        ({"iss": "https://evil.example"}, "wrong_issuer"),
        ({"iss": "https://localhost:8443/"}, "wrong_issuer"),
        ({"iss": ["https://localhost:8443"]}, "wrong_issuer"),
        ({"aud": "https://other.example"}, "wrong_audience"),
        ({"aud": ["https://other.example", "https://x"]}, "wrong_audience"),
        ({"aud": []}, "wrong_audience"),
        ({"aud": ["https://api.example", 7]}, "invalid_aud"),
        ({"aud": {"https://api.example": True}}, "invalid_aud"),
        ({"exp": str(NOW + 600)}, "invalid_exp"),
        ({"exp": True}, "invalid_exp"),
        ({"exp": None}, "invalid_exp"),
        ({"exp": 10**30}, "lifetime_exceeds_ceiling"),
        ({"exp": 1e308}, "lifetime_exceeds_ceiling"),
        ({"exp": NOW - 100, "iat": NOW}, "expired"),
        ({"exp": NOW + 10, "iat": NOW + 20}, "invalid_exp"),
        ({"exp": NOW + 86_401}, "lifetime_exceeds_ceiling"),
        ({"iat": "now"}, "invalid_iat"),
        ({"iat": False}, "invalid_iat"),
        ({"nbf": "0"}, "invalid_nbf"),
        ({"nbf": None}, "invalid_nbf"),
        ({"sub": 12}, "invalid_sub"),
        ({"sub": ""}, "invalid_sub"),
        ({"client_id": ["web-app"]}, "invalid_client_id"),
        ({"jti": None}, "invalid_jti"),
        ({"scope": ["things:read"]}, "invalid_scope"),
    ],
)
def test_bad_claims(overrides: dict[str, Any], why: str) -> None:
    assert reason(forge(header_for(), claims(**overrides))) == why


@pytest.mark.parametrize("name", ["iss", "aud", "exp", "iat", "sub", "jti", "client_id"])
def test_every_required_claim(name: str) -> None:
    expected = {"iss": "wrong_issuer", "aud": "invalid_aud"}.get(name, f"invalid_{name}")
    assert reason(forge(header_for(), claims(**{name: DROP}))) == expected


def test_huge_integers_and_non_finite_numbers() -> None:
    body = json.dumps(claims(exp=DROP))[:-1] + ', "exp": ' + "9" * 5000 + "}"
    assert reason(forge(header_for(), body)) in {"malformed", "token_too_large"}
    assert reason(forge(header_for(), body), verifier(max_token_bytes=50_000)) == "malformed"
    for literal in ("NaN", "Infinity", "-Infinity", "1e999"):
        body = json.dumps(claims(exp=DROP))[:-1] + f', "exp": {literal}}}'
        assert reason(forge(header_for(), body)) in {"malformed", "invalid_exp"}, literal


# --- size, shape and nesting ----------------------------------------------------------------------


def test_oversized_tokens_are_refused_before_parsing() -> None:
    assert reason("x" * 8193) == "token_too_large"
    assert reason("!." * 5000) == "token_too_large"
    assert reason(forge(header_for(), claims(pad="p" * 7000))) == "token_too_large"


@pytest.mark.parametrize("where", ["header", "payload"])
def test_deeply_nested_json(where: str) -> None:
    nested = '{"x":' * 10_000 + "1" + "}" * 10_000
    v = verifier(max_token_bytes=200_000)
    if where == "header":
        tok = forge(header_for(), claims())
        tok = f"{b64(nested)}.{tok.split('.', 1)[1]}"
    else:
        tok = forge(header_for(), json.dumps(claims())[:-1] + ', "deep": ' + nested + "}")
    assert reason(tok, v) == "malformed"
    assert reason(tok) == "token_too_large"


@pytest.mark.parametrize(
    "tok",
    [
        "",
        ".",
        "..",
        "...",
        "a.b",
        "a.b.c.d",
        "a.b.c.d.e",
        "eyJ.eyJ.sig",
        " " + "x.y.z",
        "e30.e30.",
        "W10.e30.AA",
        "bnVsbA.e30.AA",
        "IjEi.e30.AA",
    ],
)
def test_malformed_shapes(tok: str) -> None:
    assert reason(tok) == "malformed"


def test_padding_and_non_url_alphabet_are_refused() -> None:
    good = forge(header_for(), claims())
    h, p, s = good.split(".")
    for bad in (f"{h}=.{p}.{s}", f"{h}.{p}=.{s}", f"{h}.{p}.{s}=", f"{h}.{p}.{s}".replace("-", "+").replace("_", "/"),
                f"{h} .{p}.{s}", f"{h}.{p}.{s}\n", f"{h}.{p}.{s[:-1]}é"):
        if bad != good:
            assert reason(bad) in {"malformed", "bad_signature"}, bad


def test_non_canonical_base64_is_refused() -> None:
    good = forge(header_for(), claims())
    h, p, s = good.split(".")
    # ES256 signatures are 64 bytes: 86 characters, so the last one has 4 unused bits.
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(s[-1])
    tweaked = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last | 1]
    assert reason(f"{h}.{p}.{s[:-1]}{tweaked}") == "malformed"


def test_a_json_serialized_jws_is_refused() -> None:
    h, p, s = forge(header_for(), claims()).split(".")
    assert reason(json.dumps({"protected": h, "payload": p, "signature": s})) == "malformed"


def test_signature_must_match_the_exact_bytes() -> None:
    h, p, s = forge(header_for(), claims()).split(".")
    other = b64(json.dumps(claims(sub="someone-else")))
    assert reason(f"{h}.{other}.{s}") == "bad_signature"
    assert reason(f"{h}.{p}.") == "bad_signature"


def test_jwks_lookups_are_counted_and_observable() -> None:
    """Hits come from the cache; an unknown kid triggers one refetch and is counted as unknown."""
    from idgate.jose.keys import generate_signing_key
    from idgate.jose.jws import sign_jwt

    key = generate_signing_key("ES256")
    calls: list[str] = []
    fetched: list[int] = []

    def jwks() -> dict:  # type: ignore[type-arg]
        fetched.append(1)
        return {"keys": [key.public_jwk]}

    v = Verifier(issuer="https://idp.example", audience="https://api.example", jwks=jwks,
                 min_refetch_interval=0.0, on_jwks_lookup=calls.append)
    now = int(time.time())
    claims = {"iss": "https://idp.example", "aud": "https://api.example", "sub": "s", "iat": now, "exp": now + 60,
              "jti": "j", "client_id": "svc"}
    for _ in range(3):
        v.verify(sign_jwt(claims, key, "at+jwt"))
    stranger = generate_signing_key("ES256")
    with pytest.raises(InvalidToken):
        v.verify(sign_jwt(claims, stranger, "at+jwt"))
    assert calls == ["hit", "hit", "hit", "unknown"]
    stats = v.jwks_stats()
    assert stats["hit"] == 3 and stats["unknown"] == 1 and stats["refetched"] == 0
    assert stats["fetches"] == len(fetched) >= 2 and stats["fetch_errors"] == 0
