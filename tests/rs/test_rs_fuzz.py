"""Fuzzing: whatever arrives, Verifier.verify returns claims or raises InvalidToken, nothing else."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rs_support import b64, claims, forge, header_for, signing_key, verifier

from idgate.rs import InvalidToken

V = verifier(signing_key("ES256"), signing_key("EdDSA"))
BIG = verifier(signing_key("ES256"), max_token_bytes=1_000_000)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
header_keys = st.sampled_from(["alg", "kid", "typ", "crit", "jwk", "jku", "b64", "zip", "cty", "x5c", "enc"])
headers = st.dictionaries(header_keys | st.text(max_size=5), json_values, max_size=6)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(v: Any, tok: Any) -> None:
    try:
        result = v.verify(tok)
    except InvalidToken as exc:
        assert exc.reason
    else:
        assert isinstance(result, dict)


@FUZZ
@given(st.text(max_size=300) | st.binary(max_size=300))
def test_random_strings_and_bytes(tok: str | bytes) -> None:
    outcome(V, tok)


@FUZZ
@given(st.lists(st.text(alphabet="ABCDEFabcdef0123456789-_=+/.", max_size=60), min_size=1, max_size=6))
def test_random_base64ish_segments(segments: list[str]) -> None:
    outcome(V, ".".join(segments))


@FUZZ
@given(headers, json_values, st.binary(max_size=100))
def test_random_json_headers_and_payloads(header: dict[str, Any], payload: Any, sig: bytes) -> None:
    outcome(V, f"{b64(json.dumps(header))}.{b64(json.dumps(payload))}.{b64(sig)}")


@FUZZ
@given(json_values)
def test_validly_signed_random_payloads(payload: Any) -> None:
    # The signature verifies, so every claim check sees attacker-shaped JSON.
    outcome(V, forge(header_for(), json.dumps(payload)))


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(claims())) | st.text(max_size=4), json_values, max_size=10))
def test_validly_signed_random_claim_values(overrides: dict[str, Any]) -> None:
    outcome(V, forge(header_for(), claims(**overrides)))


@FUZZ
@given(st.binary(max_size=200), st.binary(max_size=200))
def test_validly_signed_random_payload_bytes(payload: bytes, header_tail: bytes) -> None:
    outcome(V, forge(header_for(), payload))
    outcome(V, forge(json.dumps(header_for()).encode().decode() + header_tail.decode("latin-1"), claims()))


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=1, max_value=30_000), st.sampled_from("[{"))
def test_deep_nesting_anywhere(depth: int, opener: str) -> None:
    closer = {"[": "]", "{": "}"}[opener]
    nested = (opener + '"k":' if opener == "{" else opener) * depth
    body = nested + "1" + closer * depth
    outcome(BIG, forge(header_for(), body))
    outcome(BIG, f"{b64(body)}.{b64(json.dumps(claims()))}.AA")
