"""OpenID Connect: ID tokens are not access tokens and vice versa, userinfo by scope,
RP-initiated logout, discovery."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from idgate.errors import InvalidToken
from idgate.provider import Provider
from idgate.services.access_verifier import build_verifier

from oauth_support import code_flow, csrf_of, redeem, register

LOGOUT = "https://app.example/signed-out"


def _tokens(provider: Provider, http, **extra: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    register(provider, public=True, post_logout_redirect_uris=[LOGOUT], scopes=["openid profile email things:read"])
    response, verifier, _ = code_flow(http, **extra)
    reply = redeem(http, response["code"], verifier)
    assert reply.status_code == 200, reply.text
    return reply.json()  # type: ignore[no-any-return]


def test_id_token_is_refused_as_an_access_token(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    tokens = _tokens(provider, http)
    with pytest.raises(InvalidToken) as caught:
        build_verifier(provider).verify(tokens["id_token"])
    assert caught.value.reason == "wrong_typ"
    reply = http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['id_token']}"})
    assert reply.status_code == 401 and 'error="invalid_token"' in reply.headers["www-authenticate"]


def test_access_token_is_refused_as_id_token_hint(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    tokens = _tokens(provider, http)
    reply = http.get("/end_session?" + urlencode({"id_token_hint": tokens["access_token"],
                                                  "post_logout_redirect_uri": LOGOUT}), follow_redirects=False)
    assert reply.status_code == 400 and "location" not in reply.headers
    assert "did not issue or cannot accept" in reply.text


def test_userinfo_follows_the_scopes(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    tokens = _tokens(provider, http, scope="openid email")
    info = http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert set(info) == {"sub", "email", "email_verified"} and info["email_verified"] is False
    response, verifier, _ = code_flow(http, scope="things:read")  # no openid: no ID token, no userinfo
    plain = redeem(http, response["code"], verifier).json()
    assert "id_token" not in plain
    denied = http.get("/userinfo", headers={"Authorization": f"Bearer {plain['access_token']}"})
    assert denied.status_code == 403 and "insufficient_scope" in denied.headers["www-authenticate"]


def test_rp_initiated_logout_with_hint(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    tokens = _tokens(provider, http)
    assert http.get("/account", follow_redirects=False).status_code == 200  # signed in
    reply = http.get("/end_session?" + urlencode({"id_token_hint": tokens["id_token"], "state": "s1",
                                                  "post_logout_redirect_uri": LOGOUT}), follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == LOGOUT + "?state=s1"
    assert "__Host-idgate_session=" in reply.headers["set-cookie"] and "Max-Age=0" in reply.headers["set-cookie"]
    # The browser session is gone, and the app session it started with it.
    http.cookies.clear()
    refreshed = http.post("/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                          "client_id": "webapp"})
    assert refreshed.status_code == 400


def test_logout_redirect_must_be_registered(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    tokens = _tokens(provider, http)
    for uri in ("https://evil.example/", LOGOUT + "/x", "https://app.example/callback"):
        reply = http.get("/end_session?" + urlencode({"id_token_hint": tokens["id_token"],
                                                      "post_logout_redirect_uri": uri}), follow_redirects=False)
        assert reply.status_code == 400 and "location" not in reply.headers
    no_client = http.get("/end_session?" + urlencode({"post_logout_redirect_uri": LOGOUT}), follow_redirects=False)
    assert no_client.status_code == 400


def test_logout_without_hint_asks_and_needs_csrf(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    _tokens(provider, http)
    page = http.get("/end_session?" + urlencode({"client_id": "webapp", "post_logout_redirect_uri": LOGOUT}))
    assert page.status_code == 200 and "Sign out?" in page.text
    assert "form-action 'self' https://app.example;" in page.headers["content-security-policy"]
    fields = {"client_id": "webapp", "post_logout_redirect_uri": LOGOUT, "state": "", "decision": "logout"}
    forged = http.post("/end_session/confirm", data=fields, follow_redirects=False)
    assert forged.status_code == 403
    done = http.post("/end_session/confirm", data={**fields, "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == LOGOUT
    assert http.get("/account", follow_redirects=False).headers["location"].startswith("/interaction/")


def test_discovery_advertises_the_flows(lite_http) -> None:  # type: ignore[no-untyped-def]
    meta = lite_http.get("/.well-known/openid-configuration").json()
    base = "https://localhost:8443"
    assert meta["authorization_endpoint"] == base + "/authorize"
    assert meta["introspection_endpoint"] == base + "/introspect"
    assert meta["end_session_endpoint"] == base + "/end_session"
    assert meta["response_types_supported"] == ["code"] and meta["code_challenge_methods_supported"] == ["S256"]
    assert set(meta["response_modes_supported"]) == {"query", "form_post"}
    assert set(meta["prompt_values_supported"]) == {"none", "login", "consent"}
    assert {"client_secret_basic", "client_secret_post", "private_key_jwt", "none"} == \
        set(meta["token_endpoint_auth_methods_supported"])
    assert {"authorization_code", "refresh_token", "client_credentials"} <= set(meta["grant_types_supported"])
    assert "password" not in meta["grant_types_supported"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert {"nonce", "auth_time", "at_hash", "acr", "amr"} <= set(meta["claims_supported"])
