"""Passkeys over HTTP (issue 13), in-process: the sign-in and account endpoints with a software
authenticator's real responses - a whole passwordless code flow and the ID token it ends in,
the second factor after a password, the page choices, and every hostile request answered with
a 4xx (CSRF, media type, size, garbage, throttling), never a 500. Plus the admin API and CLI."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from idgate.cli import app as cli_app
from idgate.provider import Provider

from oauth_support import REDIRECT, auth_params, csrf_of, pkce, query_of, register
from passkey_authenticator import SoftAuthenticator
from support import GOOD_PASSWORD, Deployment

ORIGIN = "https://localhost:8443"


def _claims(token: str) -> dict:  # type: ignore[type-arg]
    import base64

    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _start(http: TestClient, **extra: str) -> tuple[str, str, str]:
    """GET /authorize -> the sign-in page: (interaction path, its CSRF token, the PKCE verifier)."""
    verifier, challenge = pkce()
    reply = http.get("/authorize?" + urlencode(auth_params(challenge=challenge, **extra)), follow_redirects=False)
    assert reply.status_code == 303, reply.text
    interaction = reply.headers["location"]
    page = http.get(interaction)
    return interaction, csrf_of(page.text), verifier


def _script(http: TestClient, url: str, csrf: str, body: object = None):  # type: ignore[no-untyped-def]
    return http.post(url, content=json.dumps(body or {}), headers={"Content-Type": "application/json",
                                                                    "X-CSRF-Token": csrf})


def _account_passkey(http: TestClient, authenticator: SoftAuthenticator, name: str = "Laptop") -> str:
    """Sign in at /account with the password, add a passkey there; its id."""
    reply = http.get("/account", follow_redirects=False)
    if reply.status_code == 303:  # not signed in yet
        interaction = reply.headers["location"]
        page = http.get(interaction)
        reply = http.post(interaction + "/login", data={"csrf_token": csrf_of(page.text), "username": "alice",
                                                        "password": GOOD_PASSWORD}, follow_redirects=True)
    assert "Add a passkey" in reply.text
    csrf = csrf_of(reply.text)
    options = _script(http, "/account/passkeys/options", csrf)
    assert options.status_code == 200 and options.headers["cache-control"] == "no-store"
    added = _script(http, "/account/passkeys", csrf, {"credential": authenticator.create(options.json()), "name": name})
    assert added.status_code == 200, added.text
    return str(added.json()["id"])


def test_a_whole_passwordless_code_flow_over_http(http: TestClient, provider: Provider) -> None:
    register(provider, public=True, skip_consent=True)
    authenticator = SoftAuthenticator(ORIGIN)
    _account_passkey(http, authenticator)
    http.cookies.clear()  # another visit: signed out
    interaction, csrf, verifier = _start(http)
    page = http.get(interaction).text
    assert "Sign in with a passkey" in page and 'autocomplete="username webauthn"' in page
    options = _script(http, interaction + "/passkey/sign-in/options", csrf)
    assert options.status_code == 200 and options.json()["allowCredentials"] == []
    done = _script(http, interaction + "/passkey/sign-in", csrf, {"credential": authenticator.get(options.json())})
    assert done.status_code == 200 and done.json() == {"location": interaction}
    assert "__Host-idgate_session" in done.headers["set-cookie"]  # a new session at sign-in
    back = http.get(interaction, follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"].startswith(REDIRECT)
    code = query_of(back.headers["location"])["code"]
    tokens = http.post("/token", data={"grant_type": "authorization_code", "client_id": "webapp", "code": code,
                                       "code_verifier": verifier, "redirect_uri": REDIRECT}).json()
    assert "id_token" in tokens, tokens
    claims = _claims(tokens["id_token"])
    assert claims["amr"] == ["hwk", "user", "mfa"] and claims["acr"] == "phr" and claims["auth_time"] > 0
    discovery = http.get("/.well-known/openid-configuration").json()
    assert "phr" in discovery["acr_values_supported"]


def test_passkey_as_second_factor_and_the_page_offers_the_choice(http: TestClient, provider: Provider) -> None:
    from idgate.mfa import service as mfa

    register(provider, public=True, skip_consent=True)
    authenticator = SoftAuthenticator(ORIGIN)
    _account_passkey(http, authenticator)
    http.cookies.clear()
    interaction, csrf, verifier = _start(http)
    # Before the password: no second-factor options (nobody's password was right here).
    refused = _script(http, interaction + "/passkey/second-factor/options", csrf)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"
    step = http.post(interaction + "/login", data={"csrf_token": csrf, "username": "alice", "password": GOOD_PASSWORD})
    assert step.status_code == 200 and "Use a passkey" in step.text and 'name="otp"' not in step.text
    options = _script(http, interaction + "/passkey/second-factor/options", csrf).json()
    assert len(options["allowCredentials"]) == 1
    done = _script(http, interaction + "/passkey/second-factor", csrf, {"credential": authenticator.get(options)})
    assert done.status_code == 200, done.text
    code = query_of(http.get(interaction, follow_redirects=False).headers["location"])["code"]
    tokens = http.post("/token", data={"grant_type": "authorization_code", "client_id": "webapp", "code": code,
                                       "code_verifier": verifier, "redirect_uri": REDIRECT}).json()
    assert _claims(tokens["id_token"])["amr"] == ["pwd", "hwk", "user", "mfa"]

    # With an authenticator app as well, the page offers both.
    user_id = mfa.user_id_of(provider, "alice")
    mfa.enroll_totp(provider, user_id)
    import pyotp

    secret = mfa.pending_enrolment(provider, user_id).secret  # type: ignore[union-attr]
    mfa.confirm_totp(provider, user_id, pyotp.TOTP(secret).now())
    http.cookies.clear()
    interaction, csrf, _ = _start(http)
    both = http.post(interaction + "/login", data={"csrf_token": csrf, "username": "alice", "password": GOOD_PASSWORD})
    assert "Use a passkey" in both.text and 'name="otp"' in both.text


def test_hostile_requests_get_a_4xx(http: TestClient, provider: Provider) -> None:
    register(provider, public=True, skip_consent=True)
    interaction, csrf, _ = _start(http)
    url = interaction + "/passkey/sign-in"
    no_csrf = http.post(url, content="{}", headers={"Content-Type": "application/json"})
    assert no_csrf.status_code == 403
    as_form = http.post(url, data={"credential": "x"}, headers={"X-CSRF-Token": csrf})
    assert as_form.status_code == 415  # a plain HTML form (another site's) cannot post here
    huge = _script(http, url, csrf, {"credential": {"id": "A" * 20_000}})
    assert huge.status_code == 413
    for body in ({}, {"credential": "x"}, {"credential": {}}, {"credential": {"response": {}}}, [1, 2]):
        reply = _script(http, url, csrf, body)
        assert 400 <= reply.status_code < 500 and "error" in reply.json(), (body, reply.text)
    assert _script(http, interaction + "/passkey/nonsense/options", csrf).status_code == 400
    assert _script(http, "/interaction/" + "x" * 40 + "/passkey/sign-in/options", csrf).status_code == 400
    # A challenge held by another browser (session) is useless here.
    with TestClient(http.app, base_url="https://localhost:8443") as other:
        assert _script(other, interaction + "/passkey/sign-in/options", csrf).status_code in (400, 403)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=40),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                        st.sampled_from(["id", "rawId", "type", "response", "clientDataJSON", "authenticatorData",
                                         "signature", "userHandle", "attestationObject"]), inner, max_size=6),
                    max_leaves=12))
def test_fuzzed_credentials_never_500(lite_http: TestClient, shape: object) -> None:
    register(lite_http.app.state.provider, client_id="fuzz", public=True, skip_consent=True) \
        if not getattr(lite_http, "_fuzz_ready", False) else None
    lite_http._fuzz_ready = True  # type: ignore[attr-defined]
    verifier, challenge = pkce()
    reply = lite_http.get("/authorize?" + urlencode(auth_params(client_id="fuzz", challenge=challenge)),
                          follow_redirects=False)
    interaction = reply.headers["location"]
    csrf = csrf_of(lite_http.get(interaction).text)
    for mode in ("sign-in", "second-factor"):
        reply = _script(lite_http, f"{interaction}/passkey/{mode}", csrf, {"credential": shape})
        assert 400 <= reply.status_code < 500, reply.text


def test_failed_assertions_are_throttled_like_passwords(lite: Provider) -> None:
    from dataclasses import replace

    from idgate.server.app import create_app

    lite.settings = replace(lite.settings, throttle_ip_free=3)
    with TestClient(create_app(lite), base_url="https://localhost:8443") as http:
        register(lite, public=True, skip_consent=True)
        stranger = SoftAuthenticator(ORIGIN)
        stranger.create({"rp": {"id": "localhost"}, "user": {"id": "dV94"}, "challenge": "AAAA"})
        interaction, csrf, _ = _start(http)
        statuses = []
        for _ in range(6):
            options = _script(http, interaction + "/passkey/sign-in/options", csrf).json()
            reply = _script(http, interaction + "/passkey/sign-in", csrf, {"credential": stranger.get(options)})
            statuses.append(reply.status_code)
            if reply.status_code == 429:
                assert int(reply.headers["retry-after"]) >= 1
                break
        assert statuses[:3] == [401, 401, 401] and statuses[-1] == 429, statuses


def test_adding_needs_a_recent_sign_in(http: TestClient, provider: Provider) -> None:
    from sqlalchemy import update

    from idgate.store.db import transaction
    from idgate.store.models_oauth import BrowserSession

    _account_passkey(http, SoftAuthenticator(ORIGIN))
    with transaction(provider.sessions) as session:
        session.execute(update(BrowserSession).values(auth_time=BrowserSession.auth_time - 301))
    page = http.get("/account")
    stale = _script(http, "/account/passkeys/options", csrf_of(page.text))
    assert stale.status_code == 403 and stale.json()["location"] == "/account/reauth"
    again = http.get("/account/reauth", follow_redirects=True)
    assert 'id="password"' in again.text and 'value="alice"' in again.text


def test_account_rename_and_remove_pages(http: TestClient, provider: Provider) -> None:
    passkey_id = _account_passkey(http, SoftAuthenticator(ORIGIN))
    page = http.get(f"/account/passkeys/{passkey_id}?added=1")
    assert page.status_code == 200 and "Your passkey was added" in page.text and 'value="Laptop"' in page.text
    csrf = csrf_of(page.text)
    renamed = http.post(f"/account/passkeys/{passkey_id}/name", data={"csrf_token": csrf, "name": "Work phone"})
    assert "Saved as “Work phone”" in renamed.text and "This device only" in renamed.text
    forged = http.post(f"/account/passkeys/{passkey_id}/delete", data={"csrf_token": "nope"})
    assert forged.status_code == 403
    assert http.get("/account/passkeys/pk_unknown").status_code == 404
    removed = http.post(f"/account/passkeys/{passkey_id}/delete", data={"csrf_token": csrf})
    assert "The passkey was removed" in removed.text and "You have no passkeys yet" in removed.text


def test_admin_api_and_cli_list_and_revoke(http: TestClient, provider: Provider, deployment: Deployment) -> None:
    passkey_id = _account_passkey(http, SoftAuthenticator(ORIGIN), name="Old phone")
    with TestClient(http.app, base_url="https://localhost:8443") as admin:
        token = admin.post("/login", json={"username": "admin", "password": deployment.admin_password}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        listed = admin.get("/admin/users/alice/passkeys", headers=headers)
        assert listed.status_code == 200 and [p["name"] for p in listed.json()["items"]] == ["Old phone"]
        assert "public_key" not in listed.text and "credential_id" not in listed.text
        assert admin.get("/admin/users/alice/passkeys").status_code == 401
        assert admin.delete("/admin/users/alice/passkeys/not-an-id", headers=headers).status_code == 400
        assert admin.delete(f"/admin/users/alice/passkeys/{passkey_id}", headers=headers).status_code == 204
        assert admin.delete(f"/admin/users/alice/passkeys/{passkey_id}", headers=headers).status_code == 404
        assert admin.get("/admin/users/nobody/passkeys", headers=headers).status_code == 404

    second = _account_passkey(http, SoftAuthenticator(ORIGIN), name="Tablet")
    base = ["--data", str(deployment.data)] + (["--database", deployment.database_url]
                                               if deployment.database_url else [])
    runner = CliRunner()
    shown = runner.invoke(cli_app, ["user", "passkeys", "alice", *base])
    assert shown.exit_code == 0 and second in shown.output and "Tablet" in shown.output
    gone = runner.invoke(cli_app, ["user", "passkey-revoke", "alice", second, *base])
    assert gone.exit_code == 0 and "revoked" in gone.output
    assert "alice has no passkeys" in runner.invoke(cli_app, ["user", "passkeys", "alice", *base]).output
    from idgate.events.queries import search

    actors = [e.actor or "" for e in search(provider.sessions, kind="passkey.removed")]
    assert any(a.startswith("cli:") for a in actors) and any(a.startswith("u_") for a in actors)
    assert re.search(r"u_[A-Za-z0-9_-]+", actors[-1])
