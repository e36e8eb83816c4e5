"""/userinfo refuses every forged token with 401 and RFC 6750's WWW-Authenticate (RFC 8725 §2)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from fastapi.testclient import TestClient

from idgate.jose import generate_signing_key, sign_jwt
from idgate.provider import Provider
from idgate.server.app import create_app

from support import login


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _seg(obj: Any) -> str:
    return _b64(json.dumps(obj).encode())


def _claims_of(token: str) -> dict[str, Any]:
    seg = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))


def _sign_es256(header: dict[str, Any], claims: dict[str, Any], key: ec.EllipticCurvePrivateKey) -> str:
    signing_input = f"{_seg(header)}.{_seg(claims)}".encode()
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return f"{signing_input.decode()}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _forgeries(provider: Provider, genuine: str) -> dict[str, str]:
    claims = _claims_of(genuine)
    kid = provider.keyring().active.kid
    public_pem = provider.keyring().active.jose_key.as_pem(private=False)
    attacker = ec.generate_private_key(ec.SECP256R1())
    attacker_jwk = json.loads(json.dumps({"kty": "EC", "crv": "P-256"}))
    nums = attacker.public_key().public_numbers()
    attacker_jwk.update(x=_b64(nums.x.to_bytes(32, "big")), y=_b64(nums.y.to_bytes(32, "big")))
    hs_input = f"{_seg({'alg': 'HS256', 'kid': kid, 'typ': 'at+jwt'})}.{_seg(claims)}"
    now = int(time.time())
    own = provider.keyring().active
    return {
        "alg none": f"{_seg({'alg': 'none', 'kid': kid, 'typ': 'at+jwt'})}.{_seg(claims)}.",
        "alg NoNe": f"{_seg({'alg': 'NoNe', 'kid': kid, 'typ': 'at+jwt'})}.{_seg(claims)}.",
        "HS256 keyed with the public key": hs_input + "." + _b64(hmac.new(public_pem, hs_input.encode(), hashlib.sha256).digest()),
        "embedded jwk": _sign_es256({"alg": "ES256", "kid": kid, "typ": "at+jwt", "jwk": attacker_jwk}, claims, attacker),
        "attacker key, our kid": _sign_es256({"alg": "ES256", "kid": kid, "typ": "at+jwt"}, claims, attacker),
        "unknown kid": _sign_es256({"alg": "ES256", "kid": "attacker", "typ": "at+jwt"}, claims, attacker),
        "expired": sign_jwt({**claims, "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}, own, "at+jwt"),
        "wrong aud": sign_jwt({**claims, "aud": "https://elsewhere.example"}, own, "at+jwt"),
        "wrong iss": sign_jwt({**claims, "iss": "https://evil.example"}, own, "at+jwt"),
        "id token typ": sign_jwt(claims, own, "JWT"),
        "lifetime over ceiling": sign_jwt({**claims, "exp": now + 2 * 86400}, own, "at+jwt"),
        "another issuer's key": sign_jwt(claims, generate_signing_key("ES256"), "at+jwt"),
        "tampered payload": genuine.split(".")[0] + "." + _seg({**claims, "permissions": ["admin"]}) + "." + genuine.split(".")[2],
    }


def test_userinfo_refuses_every_forgery(client: TestClient, provider: Provider) -> None:
    genuine = login(client).json()["access_token"]
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {genuine}"}).status_code == 200
    for name, token in _forgeries(provider, genuine).items():
        reply = client.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
        assert reply.status_code == 401, name
        challenge = reply.headers["www-authenticate"]
        assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge.split(", DPoP ")[0], name
        assert reply.json()["error"] == "invalid_token", name


@pytest.mark.parametrize("header", ["", "Bearer", "Basic YWxpY2U6eA==", "Bearer a b", "bearer " + "x" * 20000])
def test_userinfo_refuses_missing_or_malformed_authorization(client: TestClient, header: str) -> None:
    reply = client.get("/userinfo", headers={"Authorization": header} if header else {})
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"].startswith("Bearer")


def test_userinfo_token_in_query_is_refused(client: TestClient) -> None:
    token = login(client).json()["access_token"]
    assert client.get(f"/userinfo?access_token={token}").status_code == 400


def test_plain_http_from_a_remote_client_is_refused(provider: Provider) -> None:
    """Over plain HTTP (insecure mode), credentials from a non-loopback client never reach /login."""
    with TestClient(create_app(provider), base_url="http://localhost") as plain:  # client host "testclient"
        reply = plain.post("/login", json={"username": "alice", "password": "whatever it is here"})
        assert reply.status_code == 403 and "HTTPS" in reply.json()["error_description"]
        assert plain.get("/healthz").status_code == 200
