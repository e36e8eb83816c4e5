"""``idgate inspect``: decoding without trusting, times in words, red flags, HMAC secret guessing
and signature verification through idgate.rs.Verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from idgate.audit.decode import describe_expiry, human_duration
from idgate.cli import app

ISS = "https://idp.example"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256(claims: dict[str, Any], secret: str, typ: str = "JWT") -> str:
    head = _b64(json.dumps({"alg": "HS256", "typ": typ}).encode())
    body = _b64(json.dumps(claims).encode())
    mac = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(mac)}"


def _claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISS, "aud": ISS, "sub": "u1", "client_id": "app", "jti": "j1", "iat": now, "exp": now + 720, **extra}


def _inspect(*args: str, stdin: str | None = None) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, ["inspect", *args, "--format", "json"], input=stdin)
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def _codes(doc: dict[str, Any]) -> dict[str, str]:
    return {f["code"]: f["verdict"] for f in doc["flags"]}


def test_human_times() -> None:
    now = 1_000_000.0
    assert describe_expiry({"exp": now + 12 * 60 + 5}, now) == "expires in 12 minutes"
    assert describe_expiry({"exp": now - 3 * 86_400 - 10}, now) == "expired 3 days ago"
    assert describe_expiry({}, now).startswith("never expires")
    assert human_duration(1) == "1 second" and human_duration(2 * 365 * 86_400) == "2 years"


def test_alg_none_is_flagged_and_fails() -> None:
    head = _b64(json.dumps({"alg": "none"}).encode())
    token = f"{head}.{_b64(json.dumps(_claims()).encode())}."
    status, doc = _inspect(token)
    assert status == 1 and _codes(doc)["alg-none"] == "fail"


def test_weak_hmac_secret_from_builtin_list_and_wordlist(tmp_path: Path) -> None:
    status, doc = _inspect(_hs256(_claims(), "your-256-bit-secret"))
    assert status == 1 and _codes(doc)["hmac-secret-guessed"] == "fail"
    assert _codes(doc)["alg-hmac"] == "warn"

    token = _hs256(_claims(), "tr0ub4dor&3")
    status, doc = _inspect(token)
    assert _codes(doc)["hmac-secret"] == "pass"
    words = tmp_path / "words.txt"
    words.write_text("password1\ntr0ub4dor&3\n")
    status, doc = _inspect(token, "--wordlist", str(words))
    assert status == 1 and "tr0ub4dor&3" in json.dumps(doc["flags"])


def test_lifetime_missing_claims_typ_and_personal_data() -> None:
    now = int(time.time())
    claims = {"sub": "u1", "iat": now, "exp": now + 400 * 86_400, "email": "bob@example.com", "phone_number": "1"}
    status, doc = _inspect(_hs256(claims, "a-long-random-secret-nobody-guesses-0123456789"))
    codes = _codes(doc)
    assert status == 1
    assert codes["long-lifetime"] == "fail" and codes["no-iss"] == "fail" and codes["no-aud"] == "fail"
    assert codes["typ"] == "warn" and codes["personal-data"] == "warn"
    assert "email, phone_number" in json.dumps(doc["flags"])
    assert "in 1 year" in doc["times"]["exp"]


def test_missing_exp_and_expired(tmp_path: Path) -> None:
    claims = _claims()
    del claims["exp"]
    _, doc = _inspect(_hs256(claims, "x" * 40, typ="at+jwt"))
    assert _codes(doc)["no-exp"] == "fail"
    result = CliRunner().invoke(app, ["inspect", "-"], input=_hs256(_claims(exp=int(time.time()) - 3 * 86_400 - 60),
                                                                     "x" * 40, typ="at+jwt") + "\n")
    assert "expired 3 days ago" in result.stdout


@pytest.fixture
def signer(tmp_path: Path) -> tuple[Any, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", alg="ES256", use="sig")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    return key, path


def test_jwks_file_verifies_with_idgate_verifier(signer: tuple[Any, Path]) -> None:
    key, jwks = signer
    token = pyjwt.encode(_claims(), key, algorithm="ES256", headers={"kid": "k1", "typ": "at+jwt"})
    status, doc = _inspect(token, "--jwks", str(jwks))
    assert status == 0 and doc["signature"]["verified"] is True

    head, body, sig = token.split(".")
    forged_body = _b64(json.dumps(_claims(sub="admin")).encode())
    status, doc = _inspect(f"{head}.{forged_body}.{sig}", "--jwks", str(jwks))
    assert status == 1 and doc["signature"] == {"verified": False,
                                                "detail": "refused by idgate.rs.Verifier: bad_signature"}

    status, doc = _inspect(token, "--jwks", str(jwks), "--audience", "https://other.example")
    assert status == 1 and "aud" in doc["signature"]["detail"]


def test_text_output_and_unreadable_tokens(signer: tuple[Any, Path]) -> None:
    key, _ = signer
    token = pyjwt.encode(_claims(), key, algorithm="ES256", headers={"kid": "k1", "typ": "at+jwt"})
    result = CliRunner().invoke(app, ["inspect", token])
    assert result.exit_code == 0
    assert "expires in 11 minutes" in result.stdout or "expires in 12 minutes" in result.stdout
    assert "not checked" in result.stdout
    bad = CliRunner().invoke(app, ["inspect", "not-a-token"])
    assert bad.exit_code == 2 and "three parts" in bad.output
    jwe = CliRunner().invoke(app, ["inspect", "a.b.c.d.e"])
    assert jwe.exit_code == 2 and "encrypted" in jwe.output
