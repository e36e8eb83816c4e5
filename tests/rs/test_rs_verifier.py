"""Verifier: happy paths, configuration rules and key sources (RFC 9068 §4, RFC 8725 §3)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rs_support import (
    AUDIENCE,
    ISSUER,
    NOW,
    FixedClock,
    claims,
    jwks_of,
    signing_key,
    token,
    verifier,
)

from idgate.errors import ConfigError
from idgate.jose import ASYMMETRIC_ALGS, generate_signing_key, sign_jwt
from idgate.rs import InvalidToken, Verifier


def reason(v: Verifier, tok: object) -> str:
    with pytest.raises(InvalidToken) as info:
        v.verify(tok)
    return info.value.reason


@pytest.mark.parametrize("alg", ASYMMETRIC_ALGS)
def test_verifies_a_token_signed_by_sign_jwt_for_every_alg(alg: str) -> None:
    key = signing_key(alg)
    assert verifier(key).verify(token(key)) == claims()


def test_invalid_token_is_the_errors_module_class() -> None:
    import idgate.errors

    assert InvalidToken is idgate.errors.InvalidToken


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"])
def test_typ_is_compared_case_insensitively_with_optional_prefix(typ: str) -> None:
    assert verifier().verify(token(typ=typ))["sub"] == claims()["sub"]


def test_accepts_a_token_signed_by_any_published_key() -> None:
    old, new = signing_key("ES256"), signing_key("ES256", 1)
    v = verifier(new, old)
    assert v.verify(token(old))["jti"] == v.verify(token(new))["jti"]


def test_a_key_is_bound_to_its_alg_so_rs256_key_cannot_verify_ps256() -> None:
    rs = signing_key("RS256")
    ps_jwk = dict(rs.public_jwk, alg="PS256")
    v = Verifier(ISSUER, AUDIENCE, jwks={"keys": [ps_jwk]}, clock=FixedClock())
    assert reason(v, token(rs)) == "alg_key_mismatch"


def test_algorithms_narrow_the_accepted_set() -> None:
    es, ed = signing_key("ES256"), signing_key("EdDSA")
    v = verifier(es, ed, algorithms=["EdDSA"])
    assert v.verify(token(ed))
    assert reason(v, token(es)) == "alg_not_allowed"


def test_deny_list_is_consulted_after_every_other_check() -> None:
    seen: list[str] = []

    def deny(jti: str) -> bool:
        seen.append(jti)
        return jti == "revoked-one"

    v = verifier(deny_list=deny)
    assert reason(v, token(jti="revoked-one")) == "revoked"
    assert v.verify(token(jti="fine"))["jti"] == "fine"
    assert reason(v, token(exp=NOW - 3600, iat=NOW - 4000)) == "expired"
    assert seen == ["revoked-one", "fine"]


def test_leeway_allows_small_clock_skew_only() -> None:
    v = verifier()
    assert v.verify(token(exp=NOW - 29, iat=NOW - 900))
    assert reason(v, token(exp=NOW - 30, iat=NOW - 900)) == "expired"
    assert v.verify(token(iat=NOW + 30, exp=NOW + 600))
    assert reason(v, token(iat=NOW + 31, exp=NOW + 600)) == "issued_in_future"
    assert reason(verifier(leeway=0), token(exp=NOW, iat=NOW - 900)) == "expired"


def test_max_lifetime_is_configurable() -> None:
    assert reason(verifier(max_lifetime=600), token(exp=NOW + 900)) == "lifetime_exceeds_ceiling"
    assert verifier(max_lifetime=900).verify(token(exp=NOW + 900))


def test_max_token_bytes_is_configurable() -> None:
    tok = token()
    assert reason(verifier(max_token_bytes=len(tok) - 1), tok) == "token_too_large"
    assert verifier(max_token_bytes=len(tok)).verify(tok)


def test_custom_typ() -> None:
    key = signing_key("ES256")
    v = verifier(typ="custom+jwt")
    assert v.verify(token(key, typ="custom+jwt"))
    assert reason(v, token(key)) == "wrong_typ"


def test_bytes_token_is_accepted_and_other_types_refused() -> None:
    v = verifier()
    assert v.verify(token().encode())
    for bad in (None, 12, ["a.b.c"], b"\xff.\xfe.\xfd"):
        assert reason(v, bad) == "malformed"


# --- HS256: only when asked for, alone, with a static secret ---------------------------------


def test_hs256_works_only_when_explicit_and_alone() -> None:
    hs = generate_signing_key("HS256")
    secret_jwks = {"keys": [dict(hs.public_jwk, k=hs.jose_key.as_dict()["k"])]}
    tok = sign_jwt(claims(), hs, "at+jwt")
    v = Verifier(ISSUER, AUDIENCE, jwks=secret_jwks, algorithms=["HS256"], clock=FixedClock())
    assert v.verify(tok)["sub"] == claims()["sub"]
    # Default algorithms: the oct key is unusable, so the static set has no usable key at all.
    with pytest.raises(ConfigError):
        Verifier(ISSUER, AUDIENCE, jwks=secret_jwks, clock=FixedClock())
    # A set mixing the secret with public keys is a published set: the secret is dropped.
    mixed = {"keys": secret_jwks["keys"] + jwks_of(signing_key("ES256"))["keys"]}
    with pytest.raises(ConfigError):
        Verifier(ISSUER, AUDIENCE, jwks=mixed, algorithms=["HS256"], clock=FixedClock())


@pytest.mark.parametrize(
    "algorithms",
    [["HS256", "ES256"], ["none"], ["None"], ["ES256", "none"], [], "ES256", ["RS384"], ["ES512"], ["HS512"]],
)
def test_bad_algorithm_lists_are_configuration_errors(algorithms: Any) -> None:
    with pytest.raises(ConfigError):
        Verifier(ISSUER, AUDIENCE, jwks=jwks_of(signing_key("ES256")), algorithms=algorithms)


def test_hs256_next_to_asymmetric_algorithms_is_refused_by_name() -> None:
    hs = generate_signing_key("HS256")
    secret_jwks = {"keys": [dict(hs.public_jwk, k=hs.jose_key.as_dict()["k"])]}
    with pytest.raises(ConfigError, match="cannot be mixed"):
        Verifier(ISSUER, AUDIENCE, jwks=secret_jwks, algorithms=["HS256", "ES256"])


def test_hs256_with_a_remote_jwks_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError):
        Verifier(ISSUER, AUDIENCE, algorithms=["HS256"])


@pytest.mark.parametrize(
    ("issuer", "jwks_uri"),
    [
        ("http://localhost:8443", None),
        ("http://127.0.0.1:8443", None),
        (ISSUER, "http://localhost:8443/jwks"),
        (ISSUER, "file:///etc/passwd"),
        ("localhost:8443", None),
        ("https://", None),
    ],
)
def test_plain_http_and_odd_urls_are_refused(issuer: str, jwks_uri: str | None) -> None:
    with pytest.raises(ConfigError):
        Verifier(issuer, AUDIENCE, jwks_uri=jwks_uri)


def test_remote_verifier_construction_does_no_network_io() -> None:
    Verifier(ISSUER, AUDIENCE)  # fetching happens on first verify
    Verifier(ISSUER, AUDIENCE, jwks_uri="https://localhost:1/jwks")


def test_missing_ca_bundle_is_a_configuration_error(tmp_path: Any) -> None:
    with pytest.raises(ConfigError):
        Verifier(ISSUER, AUDIENCE, ca=str(tmp_path / "missing.pem"))


@pytest.mark.parametrize("options", [{"leeway": -1}, {"leeway": 3600}, {"max_lifetime": 0}])
def test_unsafe_time_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        verifier(**options)


@pytest.mark.parametrize(("issuer", "audience"), [("", AUDIENCE), (ISSUER, ""), (None, AUDIENCE)])
def test_issuer_and_audience_are_required(issuer: Any, audience: Any) -> None:
    with pytest.raises(ConfigError):
        Verifier(issuer, audience, jwks=jwks_of(signing_key("ES256")))


def test_static_jwks_without_usable_keys_is_a_configuration_error() -> None:
    private = dict(signing_key("ES256").public_jwk, d="AAAA")
    for jwks in ({"keys": []}, {"keys": [private]}, {"nokeys": 1}, {"keys": "x"}):
        with pytest.raises(ConfigError):
            Verifier(ISSUER, AUDIENCE, jwks=jwks)


# --- a callable JWKS provider (the server verifying its own tokens) --------------------------


class Provider:
    def __init__(self, *keys: Any) -> None:
        self.keys = list(keys)
        self.calls = 0
        self.fail = False

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        if self.fail:
            raise RuntimeError("key store down")
        return jwks_of(*self.keys)


def test_provider_is_called_lazily_once_and_picks_up_rotation() -> None:
    old, new = signing_key("ES256"), signing_key("ES256", 1)
    provider, clock = Provider(old), FixedClock()
    v = Verifier(ISSUER, AUDIENCE, jwks=provider, clock=clock)
    assert provider.calls == 0
    for _ in range(5):
        v.verify(token(old))
    assert provider.calls == 1
    provider.keys = [new, old]  # rotation at the issuer
    clock.advance(30)
    assert v.verify(token(new, now=clock.now))
    assert provider.calls == 2


def test_unknown_kids_refetch_at_most_once_per_interval() -> None:
    good, stranger = signing_key("ES256"), signing_key("ES256", 2)
    provider, clock = Provider(good), FixedClock()
    v = Verifier(ISSUER, AUDIENCE, jwks=provider, clock=clock, min_refetch_interval=30)
    v.verify(token(good))
    for _ in range(100):
        assert reason(v, token(stranger)) == "unknown_kid"
    assert provider.calls == 1  # first load only: the interval since it has not passed
    clock.advance(31)
    for _ in range(100):
        assert reason(v, token(stranger, now=clock.now)) == "unknown_kid"
    assert provider.calls == 2


def test_provider_keys_are_reread_every_second() -> None:
    """An in-process provider is re-read each second, so a retired or revoked key stops
    verifying within a second (a remote JWKS is kept for its max-age instead)."""
    key = signing_key("ES256")
    provider, clock = Provider(key), FixedClock()
    v = Verifier(ISSUER, AUDIENCE, jwks=provider, clock=clock, min_refetch_interval=0.0)
    v.verify(token(key))
    provider.keys = []  # key retired at the issuer
    clock.advance(0.5)
    assert v.verify(token(key, now=clock.now))
    clock.advance(0.5)
    assert reason(v, token(key, now=clock.now)) == "unknown_kid"


def test_a_failing_provider_gives_invalid_token_and_keeps_cached_keys() -> None:
    key = signing_key("ES256")
    provider, clock = Provider(key), FixedClock()
    v = Verifier(ISSUER, AUDIENCE, jwks=provider, clock=clock)
    provider.fail = True
    assert reason(v, token(key)) == "jwks_unavailable"
    assert reason(v, token(key)) == "jwks_unavailable"
    assert provider.calls == 1  # failures are rate-limited too
    provider.fail = False
    clock.advance(30)
    assert v.verify(token(key, now=clock.now))
    provider.fail = True
    clock.advance(300)
    assert v.verify(token(key, now=clock.now))  # stale keys beat no keys during an outage
    assert provider.calls == 3


# --- the header cache keeps every check ----------------------------------------------------------


def test_header_cache_never_skips_the_signature_or_claims() -> None:
    from rs_support import b64, forge, header_for

    v = verifier()
    good = forge(header_for(), claims())
    assert v.verify(good)
    head, _, sig = good.split(".")
    forged_body = b64(json.dumps({"sub": "admin"}))
    tampered = f"{head}.{forged_body}.{sig}"
    expired = forge(header_for(), claims(exp=NOW - 100, iat=NOW - 900))
    for _ in range(3):
        assert reason(v, tampered) == "bad_signature"
        assert reason(v, expired) == "expired"
        assert v.verify(good)


def test_failed_headers_are_not_cached_and_the_cache_is_bounded() -> None:
    from rs_support import forge, header_for

    v = verifier()
    bad = forge(header_for(typ="JWT"), claims())
    for _ in range(2):
        assert reason(v, bad) == "wrong_typ"
    assert v._verify_jws._headers == {}
    for i in range(200):
        assert v.verify(forge(header_for(cty=f"n{i}"), claims()))
        assert len(v._verify_jws._headers) <= 64


def test_several_audiences_accept_a_token_naming_any_of_them() -> None:
    key = signing_key("ES256")
    v = Verifier(ISSUER, [AUDIENCE, "https://other.example"], jwks=jwks_of(key), clock=FixedClock())
    assert v.verify(token(key, aud="https://other.example"))
    assert v.verify(token(key, aud=["https://x.example", AUDIENCE]))
    assert reason(v, token(key, aud="https://x.example")) == "wrong_audience"
    for bad in ([], [""], [AUDIENCE, 7]):
        with pytest.raises(ConfigError):
            Verifier(ISSUER, bad, jwks=jwks_of(key))
