"""DPoP at a resource server (RFC 9449 §4.3, §7): the proof checker, the replay caches and
nonces, and the Verifier's rules for bound tokens. Each test here would fail if its rule went."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from typing import Any

import pytest
from rs_support import AUDIENCE, NOW, FixedClock, b64, raw_sign, token, verifier

from idgate.errors import ConfigError, InvalidDpopProof, InvalidToken, UseDpopNonce
from idgate.jose.dpop_key import DpopKey
from idgate.rs import MemoryReplayCache, ProofChecker, Refused, authenticate
from idgate.rs.dpop import access_token_hash, normalize_htu, proof_from_headers
from idgate.rs.dpop_state import DpopNonces, RedisReplayCache

URL = "https://api.example/things"
KEY = DpopKey.generate()


def checker(clock: FixedClock | None = None, **options: Any) -> ProofChecker:
    return ProofChecker(clock=clock or FixedClock(), **options)


def proof(key: DpopKey = KEY, htm: str = "GET", htu: str = URL, **kw: Any) -> str:
    kw.setdefault("iat", NOW)
    return key.proof(htm, htu, **kw)


def reason(check: ProofChecker, value: str | None, **kw: Any) -> str:
    kw.setdefault("method", "GET")
    kw.setdefault("url", URL)
    with pytest.raises(InvalidDpopProof) as caught:
        check.check(value, **kw)
    return caught.value.reason


def test_a_good_proof_passes_and_names_its_key() -> None:
    checked = checker().check(proof(), method="GET", url=URL)
    assert (checked.jkt, checked.htm, checked.htu) == (KEY.jkt, "GET", URL)


def _resigned(header: dict[str, Any], claims: dict[str, Any], key: DpopKey = KEY) -> str:
    return key.proof("GET", URL, iat=NOW, header=header, claims=claims)


def _forged(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """Signed with cryptography directly: joserfc will not sign some of these headers."""
    full_header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": KEY.public_jwk, **header}
    full_claims = {"jti": secrets.token_hex(8), "htm": "GET", "htu": URL, "iat": NOW, **claims}
    signing_input = f"{b64(json.dumps(full_header))}.{b64(json.dumps(full_claims))}"
    return f"{signing_input}.{b64(raw_sign(KEY.key, signing_input.encode()))}"


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header))}.{b64(json.dumps(claims))}."


def _dup_header() -> str:
    header = '{"typ":"dpop+jwt","alg":"ES256","alg":"none","jwk":%s}' % json.dumps(KEY.public_jwk)
    signing_input = f"{b64(header)}.{b64(json.dumps({'jti': 'x', 'htm': 'GET', 'htu': URL, 'iat': NOW}))}"
    return f"{signing_input}.{b64(raw_sign(KEY.key, signing_input.encode()))}"


def _tampered_signature() -> str:
    head, body, sig = proof().split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
    raw[5] ^= 1
    return f"{head}.{body}.{b64(bytes(raw))}"


def _other_payload() -> str:
    head, _, sig = proof().split(".")
    _, body, _ = proof(htu="https://api.example/other").split(".")
    return f"{head}.{body}.{sig}"


PRIVATE_JWK = {**KEY.public_jwk, "d": KEY.key.jose_key.as_dict(private=True)["d"]}
BAD_PROOFS: dict[str, tuple[Any, str]] = {
    "no proof": (lambda: None, "missing_dpop_proof"),
    "empty": (lambda: "", "missing_dpop_proof"),
    "two segments": (lambda: "a.b", "malformed"),
    "not base64": (lambda: "a*.b.c", "malformed"),
    "huge": (lambda: "a" * 9000 + ".b.c", "proof_too_large"),
    "typ JWT": (lambda: _resigned({"typ": "JWT"}, {}), "wrong_typ"),
    "typ missing": (lambda: _resigned({"typ": None}, {}), "wrong_typ"),
    "typ at+jwt": (lambda: _resigned({"typ": "at+jwt"}, {}), "wrong_typ"),
    "alg none": (lambda: _unsigned({"typ": "dpop+jwt", "alg": "none", "jwk": KEY.public_jwk},
                                   {"jti": "x", "htm": "GET", "htu": URL, "iat": NOW}), "alg_none"),
    "alg HS256": (lambda: _unsigned({"typ": "dpop+jwt", "alg": "HS256", "jwk": KEY.public_jwk},
                                    {"jti": "x", "htm": "GET", "htu": URL, "iat": NOW}), "alg_not_allowed"),
    "no jwk": (lambda: _resigned({"jwk": None}, {}), "missing_jwk"),
    "jwk is a string": (lambda: _forged({"jwk": "x"}, {}), "missing_jwk"),
    "private key in jwk": (lambda: _resigned({"jwk": PRIVATE_JWK}, {}), "private_key_in_jwk"),
    "jku": (lambda: _resigned({"jku": "https://evil.example/jwks"}, {}), "unsupported_header"),
    "x5c": (lambda: _resigned({"x5c": ["MIIB"]}, {}), "unsupported_header"),
    "crit": (lambda: _forged({"crit": ["exp"], "exp": 1}, {}), "unsupported_header"),
    "duplicate header member": (lambda: _dup_header(), "malformed"),
    "jwk of another key": (lambda: _resigned({"jwk": DpopKey.generate().public_jwk}, {}), "bad_signature"),
    "RSA jwk for ES256": (lambda: _resigned({"jwk": DpopKey.generate("RS256").public_jwk}, {}), "unusable_jwk"),
    "off-curve point": (lambda: _resigned({"jwk": {**KEY.public_jwk, "y": KEY.public_jwk["x"]}}, {}), "unusable_jwk"),
    "tampered signature": (_tampered_signature, "bad_signature"),
    "payload swapped": (_other_payload, "bad_signature"),
    "no jti": (lambda: _resigned({}, {"jti": None}), "missing_jti"),
    "jti too long": (lambda: _resigned({}, {"jti": "j" * 300}), "missing_jti"),
    "jti a number": (lambda: _resigned({}, {"jti": 7}), "missing_jti"),
    "htm POST": (lambda: _resigned({}, {"htm": "POST"}), "wrong_htm"),
    "htm lowercase": (lambda: _resigned({}, {"htm": "get"}), "wrong_htm"),
    "no htm": (lambda: _resigned({}, {"htm": None}), "wrong_htm"),
    "htu other path": (lambda: _resigned({}, {"htu": "https://api.example/other"}), "wrong_htu"),
    "htu other host": (lambda: _resigned({}, {"htu": "https://evil.example/things"}), "wrong_htu"),
    "htu http": (lambda: _resigned({}, {"htu": "http://api.example/things"}), "wrong_htu"),
    "htu relative": (lambda: _resigned({}, {"htu": "/things"}), "wrong_htu"),
    "htu a list": (lambda: _resigned({}, {"htu": [URL]}), "wrong_htu"),
    "no iat": (lambda: _resigned({}, {"iat": None}), "missing_iat"),
    "iat a string": (lambda: _resigned({}, {"iat": str(NOW)}), "missing_iat"),
    "iat true": (lambda: _resigned({}, {"iat": True}), "missing_iat"),
    "stale iat": (lambda: _resigned({}, {"iat": NOW - 61}), "stale_iat"),
    "future iat": (lambda: _resigned({}, {"iat": NOW + 6}), "future_iat"),
}


@pytest.mark.parametrize("name", sorted(BAD_PROOFS))
def test_every_bad_proof_is_refused_with_its_reason(name: str) -> None:
    make, expected = BAD_PROOFS[name]
    assert reason(checker(), make()) == expected


def test_a_proof_with_the_query_and_fragment_still_names_the_resource() -> None:
    assert checker().check(proof(htu=URL), method="GET", url=URL + "?page=2#x").htu == URL


@pytest.mark.parametrize("written, compared", [
    ("HTTPS://API.Example:443/things", "https://api.example/things"),
    ("https://api.example:8443/a/./b/../c", "https://api.example:8443/a/c"),
    ("https://api.example/%7euser/%2f", "https://api.example/~user/%2F"),
    ("https://api.example", "https://api.example/"),
    ("http://[::1]:80/x", "http://[::1]/x"),
])
def test_htu_is_compared_after_rfc_3986_normalisation(written: str, compared: str) -> None:
    assert normalize_htu(written) == normalize_htu(compared)


@pytest.mark.parametrize("bad", ["ftp://x/y", "https://user:pw@api.example/", "https:///x", "https://api.example:99999/",
                                 "https://ápi.example/", 7])
def test_htu_that_is_not_an_absolute_http_uri_is_refused(bad: Any) -> None:
    with pytest.raises(ValueError):
        normalize_htu(bad)


def test_the_access_token_hash_is_required_and_must_match() -> None:
    at = "eyJ.token.value"
    assert reason(checker(), proof(), access_token=at) == "missing_ath"
    assert reason(checker(), proof(access_token="another"), access_token=at) == "wrong_ath"
    assert checker().check(proof(access_token=at), method="GET", url=URL, access_token=at).jkt == KEY.jkt
    assert access_token_hash(at) == b64(hashlib.sha256(at.encode()).digest())


def test_a_bound_token_needs_the_proof_of_its_own_key() -> None:
    assert reason(checker(), proof(), jkt=DpopKey.generate().jkt) == "key_mismatch"
    assert checker().check(proof(), method="GET", url=URL, jkt=KEY.jkt).jkt == KEY.jkt


def test_a_replayed_proof_is_refused_and_a_fresh_one_passes() -> None:
    check, sent = checker(), proof()
    check.check(sent, method="GET", url=URL)
    assert reason(check, sent) == "replayed_jti"
    check.check(proof(), method="GET", url=URL)


def test_the_same_jti_under_another_key_is_not_a_replay() -> None:
    check = checker()
    check.check(proof(claims={"jti": "same"}), method="GET", url=URL)
    check.check(proof(DpopKey.generate(), claims={"jti": "same"}), method="GET", url=URL)


@pytest.mark.parametrize("alg", ["ES256", "ES384", "EdDSA", "PS256", "RS256"])
def test_every_allowed_algorithm_works_and_an_allow_list_narrows_it(alg: str) -> None:
    key = DpopKey.generate(alg)
    assert checker().check(proof(key), method="GET", url=URL).jkt == key.jkt
    if alg != "ES256":
        assert reason(checker(algorithms=["ES256"]), proof(key)) == "alg_not_allowed"


@pytest.mark.parametrize("options", [{"algorithms": ["HS256"]}, {"algorithms": "ES256"}, {"algorithms": []},
                                     {"max_age": 0}, {"leeway": 301}])
def test_unsafe_checker_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ProofChecker(**options)


def test_one_dpop_header_only() -> None:
    assert proof_from_headers([(b"dpop", b"a.b.c")]) == "a.b.c"
    assert proof_from_headers([(b"accept", b"*/*")]) is None
    for headers in ([(b"dpop", b"a.b.c"), (b"DPoP", b"d.e.f")], [(b"dpop", b"a.b.c, d.e.f")]):
        with pytest.raises(InvalidDpopProof) as caught:
            proof_from_headers(headers)
        assert caught.value.reason == "several_dpop_headers"


# --- replay caches and nonces -------------------------------------------------------------


def test_the_memory_cache_forgets_expired_ids_and_stays_bounded() -> None:
    clock = FixedClock()
    cache = MemoryReplayCache(max_entries=3, clock=clock)
    assert cache.first_use("a", NOW, NOW + 10)
    assert not cache.first_use("a", NOW, NOW + 10)
    clock.advance(11)
    assert cache.first_use("a", NOW + 11, NOW + 21)  # the old entry expired: no proof that old passes now
    for n in range(10):
        assert cache.first_use(f"k{n}", NOW + 12 + n, NOW + 30)
    assert len(cache) == 3


def test_a_full_memory_cache_refuses_proofs_as_old_as_what_it_dropped() -> None:
    """Dropping entries early must never let a replay through: anything not newer than the
    dropped entry is refused, whether it was seen or not."""
    cache = MemoryReplayCache(max_entries=2, clock=FixedClock())
    assert cache.first_use("a", NOW, NOW + 60)
    assert cache.first_use("b", NOW + 1, NOW + 61)
    assert cache.first_use("c", NOW + 2, NOW + 62)  # drops "a" (iat NOW)
    assert not cache.first_use("a", NOW, NOW + 60)  # the replay of "a" is still refused
    assert not cache.first_use("new-but-old", NOW, NOW + 60)
    assert cache.first_use("d", NOW + 3, NOW + 63)


def test_nonces_are_required_when_set_and_rotate_with_time() -> None:
    clock = FixedClock()
    nonces = DpopNonces(secrets.token_bytes(32), lifetime=60, clock=clock)
    check = checker(clock, nonces=nonces)
    with pytest.raises(UseDpopNonce) as caught:
        check.check(proof(), method="GET", url=URL)
    nonce = caught.value.nonce
    assert caught.value.headers()["DPoP-Nonce"] == nonce
    check.check(proof(nonce=nonce), method="GET", url=URL)
    clock.advance(60)
    check.check(proof(nonce=nonce, iat=clock.now), method="GET", url=URL)  # the previous step still counts
    clock.advance(60)
    with pytest.raises(UseDpopNonce):
        check.check(proof(nonce=nonce, iat=clock.now), method="GET", url=URL)
    other = DpopNonces(secrets.token_bytes(32), lifetime=60, clock=clock)
    assert not nonces.is_valid(other.current()) and nonces.is_valid(nonces.current())


def test_nonces_need_a_real_secret_and_a_sane_lifetime() -> None:
    for secret, lifetime in ((b"short", 300), (secrets.token_bytes(32), 5), (secrets.token_bytes(32), 10**6)):
        with pytest.raises(ConfigError):
            DpopNonces(secret, lifetime)


def _redis_url() -> str:
    url = os.environ.get("IDGATE_TEST_REDIS_URL")
    if not url:
        pytest.skip("IDGATE_TEST_REDIS_URL is not set (Redis at redis://127.0.0.1:6379/0 in CI)")
    return url


def test_two_services_sharing_redis_refuse_each_others_replays() -> None:
    url, prefix = _redis_url(), f"idgate-test:{secrets.token_hex(4)}:"
    # The Redis key expires at iat + max_age in real time: use the real clock here.
    now = FixedClock(int(time.time()))
    first, second = (ProofChecker(clock=now, replay=RedisReplayCache(url, prefix=prefix)) for _ in range(2))
    sent = proof(iat=now.now)
    first.check(sent, method="GET", url=URL)
    assert reason(second, sent) == "replayed_jti"


def test_an_unreachable_redis_refuses_the_proof() -> None:
    check = checker(replay=RedisReplayCache("redis://127.0.0.1:1/0", timeout=0.2))
    assert reason(check, proof()) == "replay_check_unavailable"


# --- the Verifier and authenticate() ------------------------------------------------------


def bound_token(key: DpopKey = KEY, **claims: Any) -> str:
    return token(cnf={"jkt": key.jkt}, **claims)


def dpop_verifier(clock: FixedClock | None = None, **options: Any) -> Any:
    clock = clock or FixedClock()
    return verifier(clock=clock, dpop=ProofChecker(clock=clock, **options), public_url="https://api.example")


def headers(scheme: str, at: str, sent: str | None = None) -> list[tuple[bytes, bytes]]:
    found = [(b"authorization", f"{scheme} {at}".encode())]
    return found + ([(b"dpop", sent.encode())] if sent is not None else [])


def refused(check: Any, sent: list[tuple[bytes, bytes]], method: str = "GET", url: str = URL) -> Refused:
    with pytest.raises(Refused) as caught:
        authenticate(check, sent, method=method, url=url)
    return caught.value


def test_a_bound_token_with_its_proof_is_accepted() -> None:
    at = bound_token()
    auth = authenticate(dpop_verifier(), headers("DPoP", at, proof(access_token=at)), method="GET", url=URL)
    assert (auth.scheme, auth.proof.jkt, auth.claims["cnf"]) == ("DPoP", KEY.jkt, {"jkt": KEY.jkt})


def test_a_bound_token_sent_as_bearer_is_refused_even_with_a_proof() -> None:
    """RFC 9449 §7.2: a stolen bound token must not work as a bearer token."""
    at = bound_token()
    for check in (verifier(), dpop_verifier()):
        with pytest.raises(InvalidToken) as caught:
            check.verify(at)
        assert caught.value.reason == "dpop_bound_token"
        assert refused(check, headers("Bearer", at, proof(access_token=at))).reason == "dpop_bound_token"
    assert verifier().verify(at, allow_bound=True)["cnf"] == {"jkt": KEY.jkt}


def test_the_dpop_scheme_needs_a_bound_token_the_right_key_and_this_request() -> None:
    at = bound_token()
    check = dpop_verifier()
    assert refused(check, headers("DPoP", token(), proof(access_token=token()))).reason == "not_dpop_bound"
    assert refused(check, headers("DPoP", at)).reason == "missing_dpop_proof"
    assert refused(check, headers("DPoP", at, proof(DpopKey.generate(), access_token=at))).reason == "key_mismatch"
    assert refused(check, headers("DPoP", at, proof(access_token=at)), method="POST").reason == "wrong_htm"
    assert refused(check, headers("DPoP", at, proof(access_token=at)),
                   url="https://api.example/other").reason == "wrong_htu"
    assert refused(check, headers("DPoP", at, proof(access_token="x"))).reason == "wrong_ath"
    assert refused(verifier(), headers("DPoP", at, proof(access_token=at))).reason == "dpop_not_supported"


def test_a_bad_token_does_not_spend_the_proof() -> None:
    at, check = bound_token(), dpop_verifier()
    sent = proof(access_token=at)
    expired = bound_token(exp=NOW - 100, iat=NOW - 1000)
    assert refused(check, headers("DPoP", expired, sent)).reason == "expired"
    auth = authenticate(check, headers("DPoP", at, sent), method="GET", url=URL)  # the proof was not marked used
    assert auth.scheme == "DPoP"


@pytest.mark.parametrize("cnf, expected", [("jkt", "invalid_cnf"), ({"jkt": 5}, "invalid_cnf"), ({"jkt": ""}, "invalid_cnf"),
                                           ({"x5t#S256": "abc"}, "unsupported_cnf")])
def test_a_malformed_binding_never_reads_as_no_binding(cnf: Any, expected: str) -> None:
    with pytest.raises(InvalidToken) as caught:
        verifier().verify(token(cnf=cnf))
    assert caught.value.reason == expected


@pytest.mark.parametrize("public_url", [None, "http://api.example", "https://api.example/?a=1", "https://api.example/#x",
                                        "api.example", "https:///x"])
def test_dpop_needs_the_services_public_url_and_https(public_url: str | None) -> None:
    with pytest.raises(ConfigError):
        verifier(dpop=ProofChecker(), public_url=public_url)


def test_a_loopback_service_may_use_http() -> None:
    assert verifier(dpop=ProofChecker(), public_url="http://127.0.0.1:9000/").public_url == "http://127.0.0.1:9000"


def test_refusals_carry_the_challenge_of_the_scheme_used() -> None:
    at, check = bound_token(), dpop_verifier()
    missing = refused(check, [])
    assert missing.status_code == 401
    assert missing.challenges() == ['Bearer realm="idgate"', 'DPoP realm="idgate", algs="ES256 ES384 EdDSA PS256 RS256"']
    bad_proof = refused(check, headers("DPoP", at, proof(access_token="x")))
    assert bad_proof.status_code == 401 and bad_proof.error == "invalid_dpop_proof"
    assert bad_proof.challenges()[0].startswith('DPoP realm="idgate", error="invalid_dpop_proof"')
    assert 'algs="ES256' in bad_proof.challenges()[0] and len(bad_proof.challenges()) == 1
    as_bearer = refused(check, headers("Bearer", at))
    assert as_bearer.challenges()[0].startswith('Bearer realm="idgate", error="invalid_token"')
    assert as_bearer.challenges()[1].startswith("DPoP ")


def test_a_resource_server_nonce_is_a_401_with_the_dpop_nonce_header() -> None:
    clock = FixedClock()
    nonces = DpopNonces(secrets.token_bytes(32), lifetime=60, clock=clock)
    check = dpop_verifier(clock, nonces=nonces)
    at = bound_token()
    answer = refused(check, headers("DPoP", at, proof(access_token=at)))
    assert (answer.status_code, answer.error) == (401, "use_dpop_nonce")
    assert answer.headers()["DPoP-Nonce"] == nonces.current()
    assert 'DPoP realm="idgate", error="use_dpop_nonce"' in answer.headers()["WWW-Authenticate"]
    sent = proof(access_token=at, nonce=answer.headers()["DPoP-Nonce"])
    assert authenticate(check, headers("DPoP", at, sent), method="GET", url=URL).scheme == "DPoP"


def test_plain_bearer_tokens_still_work_beside_dpop() -> None:
    auth = authenticate(dpop_verifier(), headers("Bearer", token()), method="GET", url=URL)
    assert (auth.scheme, auth.proof) == ("Bearer", None)
    assert auth.claims["aud"] == AUDIENCE
