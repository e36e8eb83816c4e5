"""The JWKS over real HTTPS: discovery, caching, rate-limited refetch, rotation, outages."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rs_support import AUDIENCE, FixedClock, JwksServer, jwks_of, signing_key, token

from idgate.rs import InvalidToken, Verifier

DISCOVERY = "/.well-known/openid-configuration"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JwksServer]:
    srv = JwksServer(tmp_path_factory.mktemp("tls"))
    yield srv
    srv.close()


@pytest.fixture
def issuer(server: JwksServer) -> JwksServer:
    server.hits.clear()
    server.jwks = jwks_of(signing_key("ES256"))
    server.cache_control = "public, max-age=300"
    server.status = 200
    server.discovery_issuer = None
    server.raw_jwks_body = None
    return server


def make(srv: JwksServer, clock: FixedClock, **options: Any) -> Verifier:
    return Verifier(srv.issuer, AUDIENCE, ca=str(srv.ca), clock=clock, **options)


def tok(key: Any, srv: JwksServer, clock: FixedClock, **claims: Any) -> str:
    return token(key, now=clock.now, iss=srv.issuer, **claims)


def reason(v: Verifier, t: str) -> str:
    with pytest.raises(InvalidToken) as info:
        v.verify(t)
    return info.value.reason


def test_discovery_then_jwks_then_cache(issuer: JwksServer) -> None:
    clock, key = FixedClock(), signing_key("ES256")
    v = make(issuer, clock)
    for _ in range(20):
        assert v.verify(tok(key, issuer, clock))["iss"] == issuer.issuer
    assert issuer.hits == {DISCOVERY: 1, "/jwks": 1}


def test_explicit_jwks_uri_skips_discovery(issuer: JwksServer) -> None:
    clock, key = FixedClock(), signing_key("ES256")
    v = make(issuer, clock, jwks_uri=issuer.issuer + "/jwks")
    assert v.verify(tok(key, issuer, clock))
    assert issuer.hits == {"/jwks": 1}


def test_wrong_ca_means_no_keys(issuer: JwksServer, tmp_path: Path) -> None:
    clock = FixedClock()
    v = Verifier(issuer.issuer, AUDIENCE, clock=clock)  # system CAs do not know our test CA
    assert reason(v, tok(signing_key("ES256"), issuer, clock)) == "jwks_unavailable"
    assert issuer.hits == {}


def test_discovery_naming_another_issuer_is_refused(issuer: JwksServer) -> None:
    clock = FixedClock()
    issuer.discovery_issuer = "https://evil.example"
    v = make(issuer, clock)
    assert reason(v, tok(signing_key("ES256"), issuer, clock)) == "jwks_unavailable"
    assert issuer.hits == {DISCOVERY: 1}


def test_unknown_kids_cause_at_most_one_refetch_per_interval(issuer: JwksServer) -> None:
    clock, good, forged = FixedClock(), signing_key("ES256"), signing_key("ES256", 7)
    v = make(issuer, clock, min_refetch_interval=30)
    v.verify(tok(good, issuer, clock))
    for _ in range(50):
        assert reason(v, tok(forged, issuer, clock)) == "unknown_kid"
    assert issuer.hits["/jwks"] == 1  # the first load was < 30 s ago
    clock.advance(30)
    for _ in range(50):
        assert reason(v, tok(forged, issuer, clock)) == "unknown_kid"
    assert issuer.hits["/jwks"] == 2


def test_rotation_is_picked_up_without_restart(issuer: JwksServer) -> None:
    clock, old, new = FixedClock(), signing_key("ES256"), signing_key("EdDSA")
    v = make(issuer, clock)
    assert v.verify(tok(old, issuer, clock))
    issuer.jwks = jwks_of(new, old)  # the issuer rotates: new key first, old still published
    clock.advance(31)
    assert v.verify(tok(new, issuer, clock))
    assert v.verify(tok(old, issuer, clock))
    issuer.jwks = jwks_of(new)  # old key retired
    clock.advance(300)
    assert reason(v, tok(old, issuer, clock)) == "unknown_kid"
    assert v.verify(tok(new, issuer, clock))
    assert issuer.hits[DISCOVERY] == 1


@pytest.mark.parametrize(
    ("cache_control", "lifetime"),
    [("public, max-age=120", 120), ("max-age=5", 60), ("no-store", 300), ("max-age=999999", 86400)],
)
def test_cache_control_max_age_is_honoured_within_bounds(issuer: JwksServer, cache_control: str, lifetime: int) -> None:
    clock, key = FixedClock(), signing_key("ES256")
    issuer.cache_control = cache_control
    v = make(issuer, clock)
    v.verify(tok(key, issuer, clock))
    clock.advance(lifetime - 1)
    v.verify(tok(key, issuer, clock))
    assert issuer.hits["/jwks"] == 1
    clock.advance(1)
    v.verify(tok(key, issuer, clock))
    assert issuer.hits["/jwks"] == 2


def test_outage_keeps_cached_keys(issuer: JwksServer) -> None:
    clock, key = FixedClock(), signing_key("ES256")
    v = make(issuer, clock)
    v.verify(tok(key, issuer, clock))
    issuer.status = 503
    clock.advance(400)
    assert v.verify(tok(key, issuer, clock))
    assert v.verify(tok(key, issuer, clock))
    assert issuer.hits["/jwks"] == 2  # one failed attempt, then rate-limited


@pytest.mark.parametrize(
    "body",
    [
        # A valid set, padded past the 256 KiB cap: refused for its size alone.
        json.dumps({"keys": [signing_key("ES256").public_jwk], "pad": "x" * (300 * 1024)}).encode(),
        b"[1,2,3]", b"not json", b'{"keys": "nope"}',
        json.dumps({"keys": [{"a": 1}] * 10}).encode(),
    ],
)
def test_bad_jwks_documents_yield_no_keys(issuer: JwksServer, body: bytes) -> None:
    clock = FixedClock()
    issuer.raw_jwks_body = body
    v = make(issuer, clock)
    assert reason(v, tok(signing_key("ES256"), issuer, clock)) in {"jwks_unavailable", "unknown_kid"}


def test_private_members_in_the_jwks_are_ignored(issuer: JwksServer) -> None:
    clock, key = FixedClock(), signing_key("ES256")
    issuer.jwks = {"keys": [dict(key.public_jwk, d="c2VjcmV0")]}
    v = make(issuer, clock)
    assert reason(v, tok(key, issuer, clock)) == "unknown_kid"


def test_oct_keys_in_a_fetched_jwks_are_ignored(issuer: JwksServer) -> None:
    clock = FixedClock()
    issuer.jwks = {"keys": [{"kty": "oct", "alg": "HS256", "kid": "hs", "k": "A" * 43}]}
    v = make(issuer, clock)
    assert reason(v, tok(signing_key("ES256"), issuer, clock)) == "unknown_kid"


def test_redirects_are_not_followed(issuer: JwksServer) -> None:
    clock = FixedClock()
    v = make(issuer, clock, jwks_uri=issuer.issuer + "/redirect-jwks")
    assert reason(v, tok(signing_key("ES256"), issuer, clock)) == "jwks_unavailable"
    assert "/jwks" not in issuer.hits


def test_concurrent_first_use_fetches_once(issuer: JwksServer) -> None:
    clock, key = FixedClock(), signing_key("ES256")
    v = make(issuer, clock)
    t = tok(key, issuer, clock)
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(v.verify(t))) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(results) == 8
    assert issuer.hits == {DISCOVERY: 1, "/jwks": 1}
