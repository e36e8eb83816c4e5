"""Project Wycheproof JWS vectors through the fast path, and the differential against joserfc.

Every "valid" case is accepted and every "invalid" one rejected, except the cases pinned in
``wycheproof_jws_pins.json`` with their reason (a deliberate policy, or a defect in the vector).
The differential test is what licenses the fast path: on every case, ``verify_compact_signature``
(cryptography directly) must give joserfc's verdict, or a stricter one that is pinned.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from idgate.errors import InvalidToken
from idgate.jose.algorithms import ASYMMETRIC_ALGS
from idgate.jose.reference import reference_verify_signature
from idgate.jose.verify import verify_compact_signature

VECTORS = Path(__file__).parent.parent / "vectors" / "wycheproof"
PINS = json.loads((Path(__file__).parent / "wycheproof_jws_pins.json").read_text())
FILES = {"signature": "json_web_signature_test.json", "crypto": "json_web_crypto_test.json"}


def load_cases() -> Iterator[tuple[str, dict[str, Any], dict[str, Any], tuple[str, ...], str]]:
    for short, name in FILES.items():
        data = json.loads((VECTORS / name).read_text())
        for group in data["testGroups"]:
            for case in group["tests"]:
                if "jws" not in case:
                    continue  # JWE cases of the mixed file
                key = group.get("public") or group["private"]
                members = key.get("keys", [key])
                if any(k.get("kty") == "oct" for k in members):
                    # HS256 only when asked for alone, as Verifier(algorithms=["HS256"]) does;
                    # the secret lives in "private".
                    key, algorithms = group["private"], ("HS256",)
                else:
                    algorithms = ASYMMETRIC_ALGS
                jws = case["jws"] if isinstance(case["jws"], str) else json.dumps(case["jws"])
                yield f"{short}:{case['tcId']}", case, key, algorithms, jws


CASES = list(load_cases())


def verdict(fn: Any, *args: Any) -> tuple[str, str | None]:
    try:
        fn(*args)
    except InvalidToken as exc:
        return "reject", exc.reason
    return "accept", None


def test_the_vectors_are_all_here() -> None:
    assert len(CASES) == 401 + 49
    assert {c[1]["result"] for c in CASES} == {"valid", "invalid"}  # no "acceptable" today


@pytest.mark.parametrize(("case_id", "case", "key", "algorithms", "jws"), CASES, ids=[c[0] for c in CASES])
def test_wycheproof_verdict(case_id: str, case: dict[str, Any], key: dict[str, Any], algorithms: Any, jws: str) -> None:
    got, why = verdict(verify_compact_signature, jws, key, algorithms)
    if case_id in PINS["policy_rejects_valid"] or case_id in PINS["stricter_than_joserfc"]:
        pinned = PINS["policy_rejects_valid"].get(case_id) or PINS["stricter_than_joserfc"][case_id]
        assert (got, why) == ("reject", pinned[0])
    elif case_id in PINS["vector_defects_accepted"]:
        assert got == "accept"
    elif case_id in PINS["acceptable"]:
        assert case["result"] == "acceptable"
        assert got == PINS["acceptable"][case_id][0]
    else:
        assert got == {"valid": "accept", "invalid": "reject"}[case["result"]], (case["comment"], why)


@pytest.mark.parametrize(("case_id", "case", "key", "algorithms", "jws"), CASES, ids=[c[0] for c in CASES])
def test_fast_path_matches_joserfc_or_is_stricter(
    case_id: str, case: dict[str, Any], key: dict[str, Any], algorithms: Any, jws: str
) -> None:
    fast, _ = verdict(verify_compact_signature, jws, key, algorithms)
    ref, _ = verdict(reference_verify_signature, jws, key, algorithms)
    if fast == "accept":
        assert ref == "accept", "the fast path accepted what joserfc rejects"
    elif ref == "accept":
        assert case_id in PINS["stricter_than_joserfc"], "stricter than joserfc without a pinned reason"


def test_every_pin_is_still_needed() -> None:
    ids = {c[0]: c for c in CASES}
    for section in ("policy_rejects_valid", "vector_defects_accepted", "stricter_than_joserfc", "acceptable"):
        for case_id in PINS[section]:
            assert case_id in ids, case_id
    for case_id in PINS["policy_rejects_valid"]:
        assert ids[case_id][1]["result"] == "valid"
    for case_id in PINS["vector_defects_accepted"]:
        assert ids[case_id][1]["result"] == "invalid"
    for case_id in PINS["stricter_than_joserfc"]:
        _, _, key, algorithms, jws = ids[case_id]
        assert verdict(reference_verify_signature, jws, key, algorithms)[0] == "accept"
