"""node's openid-client (npm, installed into a temporary folder) against a real `idgate serve`:
discovery, the login form, code exchange with PKCE, ID token validation (signature, iss, aud,
nonce, iss in the authorization response), userinfo, refresh, RP-initiated logout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from idgate.services.clients.metadata import ClientSpec

from oauth_live import LOGOUT, REDIRECT, allow_exchange, browser_sign_in, live, register_client
from support import GOOD_PASSWORD

pytestmark = [pytest.mark.node, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:The httpx module is deprecated")]
HERE = Path(__file__).parent
OPENID_CLIENT = "openid-client@6.9.1"  # pinned: the certified client library these tests hold idgate to


@pytest.fixture(scope="module")
def node_rp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed for the openid-client test (apt-get install nodejs npm)")
    folder = tmp_path_factory.mktemp("openid-client")
    (folder / "package.json").write_text(json.dumps({"name": "rp", "private": True, "type": "module"}))
    proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error", OPENID_CLIENT],
                          cwd=folder, capture_output=True, text=True, timeout=240)
    if proc.returncode != 0:
        pytest.skip(f"npm install openid-client failed (registry unreachable?): {proc.stderr[-500:]}")
    for script in HERE.glob("oidc_rp*.mjs"):  # oidc_rp.mjs -> rp.mjs, oidc_rp_dpop.mjs -> rp_dpop.mjs, ...
        shutil.copy(script, folder / script.name.removeprefix("oidc_"))
    return folder


def test_openid_client_code_flow(node_rp: Path, tmp_path: Path) -> None:
    with live(tmp_path / "data") as server:
        secret = register_client(server.deployment, ClientSpec(
            client_id="node-rp", name="Node RP", redirect_uris=[REDIRECT], post_logout_redirect_uris=[LOGOUT],
            scopes=["openid profile email"], auth_method="client_secret_post"))
        assert secret
        env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(server.deployment.ca)}
        proc = subprocess.Popen(["node", "rp.mjs", server.url, "node-rp", secret, REDIRECT, LOGOUT], cwd=node_rp,
                                env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            assert proc.stdout is not None and proc.stdin is not None
            first = proc.stdout.readline()
            assert first, proc.stderr.read() if proc.stderr else ""
            start = json.loads(first)
            arrived = browser_sign_in(server, start["url"])
            proc.stdin.write(arrived + "\n")
            proc.stdin.flush()
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, err
        result = json.loads(out.strip().splitlines()[-1])
        claims = result["claims"]
        assert claims["iss"] == server.url and claims["aud"] == "node-rp" and claims["amr"] == ["pwd"]
        assert result["userinfo"]["sub"] == claims["sub"] and result["userinfo"]["email"] == "alice@example.com"
        assert result["refreshed"] is True and set(result["scope"].split()) == {"openid", "profile", "email"}
        with server.client(follow_redirects=False) as browser:
            bye = browser.get(result["logout"])
            assert bye.status_code == 303 and bye.headers["location"] == LOGOUT + "?state=bye-state"
            # The RP's refresh token is worthless to anyone without the RP's credentials.
            stolen = browser.post("/token", data={"grant_type": "refresh_token",
                                                  "refresh_token": result["refresh_token"]})
            assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"


def test_openid_client_with_dpop(node_rp: Path, tmp_path: Path) -> None:
    """RFC 9449 with a real client library: client_credentials and the code flow bound to the
    client's key, userinfo with the bound token, a refresh; every token's cnf.jkt is the key's."""
    from idgate.jose import jwk_thumbprint

    from dpop_client import claims_of

    with live(tmp_path / "data") as server:
        web_secret = register_client(server.deployment, ClientSpec(
            client_id="node-web", name="Node Web", redirect_uris=[REDIRECT], scopes=["openid profile email"],
            auth_method="client_secret_post", dpop_bound_access_tokens=True))
        svc_secret = register_client(server.deployment, ClientSpec(
            client_id="node-svc", grant_types=["client_credentials"], scopes=["things:read"],
            auth_method="client_secret_post"))
        env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(server.deployment.ca)}
        proc = subprocess.Popen(["node", "rp_dpop.mjs", server.url, "node-web", web_secret, "node-svc", svc_secret,
                                 REDIRECT], cwd=node_rp, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None and proc.stdin is not None
            first = proc.stdout.readline()
            assert first, proc.stderr.read() if proc.stderr else ""
            arrived = browser_sign_in(server, json.loads(first)["url"])
            proc.stdin.write(arrived + "\n")
            proc.stdin.flush()
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, err
        result = json.loads(out.strip().splitlines()[-1])
    jkt = jwk_thumbprint(result["jwk"])
    for name in ("service", "code", "refreshed"):
        assert result[name]["token_type"].lower() == "dpop", result[name]
        assert claims_of(result[name]["access_token"])["cnf"] == {"jkt": jkt}
    assert result["userinfo"]["email"] == "alice@example.com"


@pytest.mark.browser
def test_openid_client_device_flow_approved_in_a_browser(node_rp: Path, tmp_path: Path, chromium) -> None:  # type: ignore[no-untyped-def]
    """RFC 8628 with openid-client as a public client: initiateDeviceAuthorization, then
    pollDeviceAuthorizationGrant while the user signs in and allows in Chromium."""
    from idgate.services.device_flow import DEVICE_GRANT

    with live(tmp_path / "data") as server:
        register_client(server.deployment, ClientSpec(
            client_id="node-tv", name="Node TV", public=True, grant_types=[DEVICE_GRANT, "refresh_token"],
            scopes=["openid profile email"]))
        env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(server.deployment.ca)}
        proc = subprocess.Popen(["node", "rp_device.mjs", server.url, "node-tv"], cwd=node_rp, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        context = chromium.new_context(ignore_https_errors=True)
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert first, proc.stderr.read() if proc.stderr else ""
            started = json.loads(first)
            assert started["verification_uri"] == server.url + "/device" and started["interval"] == 5
            page = context.new_page()
            page.goto(started["verification_uri_complete"])
            page.fill("#username", "alice")
            page.fill("#password", GOOD_PASSWORD)
            page.click("form.form button[type=submit]")
            page.wait_for_selector("text=Allow this device?")
            assert started["user_code"] in page.inner_text("main") and "Node TV" in page.inner_text("main")
            page.get_by_role("button", name="Allow", exact=True).click()
            page.wait_for_selector("text=Device connected")
            out, err = proc.communicate(timeout=60)
        finally:
            context.close()
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, err
        result = json.loads(out.strip().splitlines()[-1])
    assert result["claims"]["aud"] == "node-tv" and result["claims"]["amr"] == ["pwd"]
    assert result["userinfo"]["email"] == "alice@example.com" and result["has_refresh"] is True


def test_openid_client_token_exchange(node_rp: Path, tmp_path: Path) -> None:
    """RFC 8693 through openid-client's genericGrantRequest: alice's first-party token, traded
    by a confidential backend for a narrower token addressed to the billing service."""
    import jwt as pyjwt

    from idgate.services.token_exchange import ACCESS_TOKEN_TYPE, EXCHANGE_GRANT

    with live(tmp_path / "data") as server:
        secret = register_client(server.deployment, ClientSpec(
            client_id="node-backend", grant_types=[EXCHANGE_GRANT], auth_method="client_secret_post"))
        with server.client() as http:
            subject = http.post("/login", json={"username": "alice", "password": GOOD_PASSWORD}).json()["access_token"]
        own = pyjwt.decode(subject, options={"verify_signature": False})
        allow_exchange(server.deployment, "node-backend", own["aud"], "https://billing.example")
        env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(server.deployment.ca)}
        proc = subprocess.run(["node", "rp_exchange.mjs", server.url, "node-backend", str(secret), subject,
                               "https://billing.example"], cwd=node_rp, env=env, capture_output=True, text=True,
                              timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["issued_token_type"] == ACCESS_TOKEN_TYPE and result["scope"] == "things:read"
    claims = pyjwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "https://billing.example" and claims["sub"] == own["sub"]
    assert claims["client_id"] == "node-backend" and claims["exp"] <= own["exp"]


def test_backchannel_logout_token_verified_by_jose(node_rp: Path, tmp_path: Path) -> None:
    """OIDC Back-Channel Logout 1.0 end to end: alice signs in to an app (code flow, the ID token
    has sid), then signs out at idgate; the sign-out answers at once, and the server's background
    task POSTs a logout token to the app's endpoint, where `jose` verifies it against the JWKS."""
    import time
    from urllib.parse import urlencode

    from oauth_support import pkce, query_of

    with live(tmp_path / "data") as server:
        env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(server.deployment.ca)}
        rp = subprocess.Popen(["node", "rp_backchannel.mjs", server.url, "bc-app"], cwd=node_rp, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert rp.stdout is not None
            first = rp.stdout.readline()
            assert first, rp.stderr.read() if rp.stderr else ""
            endpoint = json.loads(first)["url"]
            register_client(server.deployment, ClientSpec(
                client_id="bc-app", name="BC App", public=True, redirect_uris=[REDIRECT], scopes=["openid"],
                post_logout_redirect_uris=[LOGOUT], backchannel_logout_uri=endpoint,
                backchannel_logout_session_required=True))
            verifier, challenge = pkce()
            with server.client(follow_redirects=False) as browser:
                arrived = browser_sign_in(server, "/authorize?" + urlencode({
                    "response_type": "code", "client_id": "bc-app", "redirect_uri": REDIRECT, "scope": "openid",
                    "state": "s1", "nonce": "n1", "code_challenge": challenge, "code_challenge_method": "S256"}),
                    browser)
                tokens = browser.post("/token", data={"grant_type": "authorization_code", "client_id": "bc-app",
                                                      "code": query_of(arrived)["code"], "code_verifier": verifier,
                                                      "redirect_uri": REDIRECT}).json()
                id_claims = json.loads(_b64(tokens["id_token"].split(".")[1]))
                started = time.monotonic()
                bye = browser.get("/end_session?" + urlencode({"id_token_hint": tokens["id_token"],
                                                               "post_logout_redirect_uri": LOGOUT}))
                took = time.monotonic() - started
            assert bye.status_code == 303 and bye.headers["location"] == LOGOUT
            out, err = rp.communicate(timeout=30)
        finally:
            if rp.poll() is None:
                rp.kill()
                rp.communicate()
    result = json.loads(out.strip().splitlines()[-1])
    assert "error" not in result, result
    claims = result["claims"]
    assert result["header"]["typ"] == "logout+jwt" and claims["sid"] == id_claims["sid"]
    assert claims["sub"] == id_claims["sub"] and claims["aud"] == "bc-app" and "nonce" not in claims
    assert took < 5  # the sign-out did not wait for the app (delivery is in the background)


def _b64(segment: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
