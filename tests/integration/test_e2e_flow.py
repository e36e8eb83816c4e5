"""The whole login-to-JWT flow over real HTTPS: real server process, real clients."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt as pyjwt
import pytest

from idgate.rs import InvalidToken, Verifier

from dpop_client import DpopClient
from support import GOOD_PASSWORD, LiveServer, free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _add_bob(server: LiveServer) -> None:
    server.deployment.cli("user", "add", "bob", "--password-stdin", "--role", "reader",
                          "--permission", "things:read", "--email", "bob@example.com", stdin=GOOD_PASSWORD + "\n")


def _login(server: LiveServer, **extra: str) -> dict:
    with server.client() as c:
        reply = c.post("/login", json={"username": "bob", "password": GOOD_PASSWORD, **extra})
    assert reply.status_code == 200, reply.text
    assert reply.headers["cache-control"] == "no-store"
    return reply.json()


def test_login_verify_userinfo_over_https(live_server: LiveServer) -> None:
    _add_bob(live_server)
    token = _login(live_server)["access_token"]

    verifier = Verifier(issuer=live_server.url, audience=live_server.url, ca=str(live_server.deployment.ca))
    claims = verifier.verify(token)
    assert claims["preferred_username"] == "bob" and claims["permissions"] == ["things:read"]

    ctx = ssl.create_default_context(cafile=str(live_server.deployment.ca))
    jwks_client = pyjwt.PyJWKClient(live_server.url + "/jwks.json", ssl_context=ctx)
    signing_key = jwks_client.get_signing_key_from_jwt(token)
    decoded = pyjwt.decode(token, signing_key.key, algorithms=["ES256"], audience=live_server.url,
                           issuer=live_server.url, options={"require": ["exp", "iat", "sub", "jti"]})
    assert decoded["sub"] == claims["sub"]

    with live_server.client() as c:
        info = c.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
        assert info.status_code == 200 and info.json()["email"] == "bob@example.com"
        bad = c.get("/userinfo", headers={"Authorization": "Bearer not.a.token"})
        assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]
        jwks = c.get("/jwks.json")
        assert "max-age" in jwks.headers["cache-control"]
        assert all(not ({"d", "p", "q", "k"} & set(k)) for k in jwks.json()["keys"])
        disco = c.get("/.well-known/openid-configuration").json()
        assert disco["issuer"] == live_server.url and disco["idgate_login_endpoint"].endswith("/login")

    logs = live_server.logs()
    assert GOOD_PASSWORD not in logs and token not in logs


def test_tls_1_1_is_refused_by_the_server(live_server: LiveServer) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(live_server.deployment.ca))
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with httpx.Client(verify=ctx) as c:  # control: TLS 1.2 works
        assert c.get(live_server.url + "/healthz").status_code == 200
    ctx12_cbc = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx12_cbc.load_verify_locations(str(live_server.deployment.ca))
    ctx12_cbc.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx12_cbc.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA")
    with httpx.Client(verify=ctx12_cbc) as c, pytest.raises(httpx.ConnectError):
        c.get(live_server.url + "/healthz")


def test_key_rotation_is_picked_up_without_restart(live_server: LiveServer) -> None:
    _add_bob(live_server)
    verifier = Verifier(issuer=live_server.url, audience=live_server.url, ca=str(live_server.deployment.ca),
                        min_refetch_interval=0.0)
    old = _login(live_server)["access_token"]
    verifier.verify(old)
    live_server.deployment.cli("keys", "rotate")
    time.sleep(1.2)  # the server re-reads the key table at most once a second
    new = _login(live_server)["access_token"]
    assert pyjwt.get_unverified_header(new)["kid"] != pyjwt.get_unverified_header(old)["kid"]
    assert verifier.verify(new)["sub"] == verifier.verify(old)["sub"]  # both keys published
    kid = pyjwt.get_unverified_header(old)["kid"]
    live_server.deployment.cli("keys", "revoke", "--kid", kid)  # a kid may start with "-"
    time.sleep(1.2)
    with live_server.client() as c:
        assert c.get("/userinfo", headers={"Authorization": f"Bearer {old}"}).status_code == 401
        assert c.get("/userinfo", headers={"Authorization": f"Bearer {new}"}).status_code == 200


def test_example_service_accepts_the_token(live_server: LiveServer) -> None:
    _add_bob(live_server)
    token = _login(live_server)["access_token"]
    narrow = _login(live_server, scope="")["access_token"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "IDGATE_ISSUER": live_server.url, "IDGATE_AUDIENCE": live_server.url,
           "IDGATE_CA": str(live_server.deployment.ca), "IDGATE_PUBLIC_URL": base}
    with live_server.client() as c:
        dpop = DpopClient(c, base=live_server.url)
        reply = dpop.post("/login", json={"username": "bob", "password": GOOD_PASSWORD})
        assert reply.status_code == 200 and reply.json()["token_type"] == "DPoP", reply.text
        bound = reply.json()["access_token"]
    proc = subprocess.Popen([sys.executable, str(ROOT / "examples" / "protected_service.py"), "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(base + "/public", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, "example service did not start"
                time.sleep(0.1)
        ok = httpx.get(base + "/things", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200, ok.text
        assert httpx.get(base + "/things").status_code == 401
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        assert httpx.get(base + "/things", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
        assert narrow  # a token without the scope
        # RFC 9449 §7: the bound token works with a proof for this request, and only so.
        proof = dpop.key.proof("GET", base + "/things", access_token=bound)
        ok = httpx.get(base + "/things", headers={"Authorization": f"DPoP {bound}", "DPoP": proof})
        assert ok.status_code == 200 and ok.json()["bound_to"] == dpop.key.jkt, ok.text
        replay = httpx.get(base + "/things", headers={"Authorization": f"DPoP {bound}", "DPoP": proof})
        assert replay.status_code == 401 and replay.json()["detail"]["error"] == "invalid_dpop_proof"
        as_bearer = httpx.get(base + "/things", headers={"Authorization": f"Bearer {bound}"})
        assert as_bearer.status_code == 401 and "DPoP" in as_bearer.headers["www-authenticate"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()


def test_plain_http_refuses_credentials_from_elsewhere(tmp_path: Path) -> None:
    from idgate.cli.serve import check_transport
    from idgate.config.loading import load_settings
    from idgate.errors import ConfigError

    settings = load_settings(tmp_path, {"insecure_http": True, "host": "0.0.0.0", "issuer": "http://127.0.0.1:1"})
    with pytest.raises(ConfigError, match="plain HTTP"):
        check_transport(settings)
    check_transport(load_settings(tmp_path, {"insecure_http": True, "host": "127.0.0.1",
                                             "issuer": "http://127.0.0.1:1"}))
    assert InvalidToken
