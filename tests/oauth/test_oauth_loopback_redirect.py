"""RFC 8252 §7.3: a native app's loopback IP redirect URI matches with any port; nothing else about
it (scheme, host, path, query) may differ, and every other redirect URI stays an exact match
(RFC 9700 §4.1.3). The token request still repeats the authorization request's URI exactly."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from idgate.provider import Provider
from idgate.services.clients.redirect_uris import redirect_uri_matches

from oauth_support import auth_params, pkce, query_of, redeem, register, sign_in_and_consent

V4 = "http://127.0.0.1/callback"
V6 = "http://[::1]/callback"


@pytest.mark.parametrize(("registered", "requested"), [
    (V4, V4),
    (V4, "http://127.0.0.1:1/callback"),
    (V4, "http://127.0.0.1:8080/callback"),
    (V4, "http://127.0.0.1:51004/callback"),
    (V4, "http://127.0.0.1:65535/callback"),
    ("http://127.0.0.1:3000/callback", "http://127.0.0.1/callback"),
    ("http://127.0.0.1:3000/callback", "http://127.0.0.1:49152/callback"),
    ("http://127.0.0.1/cb?app=1", "http://127.0.0.1:9000/cb?app=1"),
    ("http://127.0.0.1", "http://127.0.0.1:9000"),
    ("http://127.8.9.10/cb", "http://127.8.9.10:9000/cb"),
    (V6, "http://[::1]:8080/callback"),
    ("http://[::1]:1234/callback", "http://[::1]/callback"),
])
def test_loopback_ip_matches_any_port(registered: str, requested: str) -> None:
    assert redirect_uri_matches(registered, requested)


@pytest.mark.parametrize(("registered", "requested"), [
    (V4, "http://127.0.0.1:8080/callback/"),             # path differs
    (V4, "http://127.0.0.1:8080/Callback"),
    (V4, "http://127.0.0.1:8080/other"),
    (V4, "http://127.0.0.1:8080/callback?x=1"),          # query added
    ("http://127.0.0.1/cb?app=1", "http://127.0.0.1:9000/cb?app=2"),
    ("http://127.0.0.1", "http://127.0.0.1:9000/"),
    (V4, "http://127.0.0.2:8080/callback"),              # host differs
    (V4, "http://[::1]:8080/callback"),
    (V6, "http://127.0.0.1:8080/callback"),
    (V4, "http://localhost:8080/callback"),
    (V4, "http://127.1:8080/callback"),
    (V4, "https://127.0.0.1:8080/callback"),             # scheme differs
    (V4, "HTTP://127.0.0.1:8080/callback"),
    (V4, "http://127.0.0.1:8000@evil.example/callback"),  # user info tricks
    (V4, "http://127.0.0.1@evil.example/callback"),
    (V4, "http://127.0.0.1:8000:9000/callback"),
    (V4, "http://127.0.0.1.evil.example/callback"),
    (V4, "http://127.0.0.1:8080/callback#frag"),         # fragment
    (V4, "http://127.0.0.1:8080#/callback"),
    (V4, "http://127.0.0.1:/callback"),                  # not a port
    (V4, "http://127.0.0.1:0/callback"),
    (V4, "http://127.0.0.1:65536/callback"),
    (V4, "http://127.0.0.1:08080/callback"),
    (V4, "http://127.0.0.1:+80/callback"),
    (V4, "http://127.0.0.1:８０/callback"),
    (V4, "http://127.0.0.1:80 /callback"),
    (V4, "http://127.0.0.1:80/../callback"),
    (V4, ""),
    # Not a loopback IP literal: exact match only, the port included.
    ("http://localhost/callback", "http://localhost:8080/callback"),
    ("http://localhost:3000/callback", "http://localhost:3001/callback"),
    ("https://app.example/callback", "https://app.example:8443/callback"),
    ("https://127.0.0.1/callback", "https://127.0.0.1:8443/callback"),
    ("https://app.example:8443/callback", "https://app.example/callback"),
    ("com.example.app:/oauth2redirect", "com.example.app:80/oauth2redirect"),
])
def test_everything_else_must_match_exactly(registered: str, requested: str) -> None:
    assert not redirect_uri_matches(registered, requested)


def _authorize(http, params: dict[str, str]):  # type: ignore[no-untyped-def]
    return http.get("/authorize?" + urlencode(params), follow_redirects=False)


@pytest.mark.parametrize(("registered", "requested"), [
    (V4, "http://127.0.0.1:53682/callback"),
    (V4, "http://127.0.0.1/callback"),
    (V6, "http://[::1]:8400/callback"),
])
def test_native_app_code_flow_on_an_ephemeral_port(provider: Provider, http, registered: str,  # type: ignore[no-untyped-def]
                                                   requested: str) -> None:
    register(provider, "cli", public=True, redirect_uris=[registered])
    verifier, challenge = pkce()
    params = auth_params("cli", challenge, redirect_uri=requested)
    reply = sign_in_and_consent(http, params)  # through login and consent: the stored request is re-checked
    assert reply.status_code == 303, reply.text
    location = reply.headers["location"]
    assert location.startswith(requested + "?"), location
    response = query_of(location)
    assert response["state"] == params["state"]
    # The token request repeats the authorization request's redirect_uri exactly: the registered
    # one (or another port) is not it.
    others = {registered, requested.replace("/callback", "/callback/")} - {requested}
    for other in others:
        refused = redeem(http, response["code"], verifier, client_id="cli", redirect_uri=other)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    ok = redeem(http, response["code"], verifier, client_id="cli", redirect_uri=requested)
    assert ok.status_code == 200, ok.text


def test_a_different_port_at_the_token_endpoint_is_refused(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    register(provider, "cli", public=True, redirect_uris=[V4])
    verifier, challenge = pkce()
    reply = sign_in_and_consent(http, auth_params("cli", challenge, redirect_uri="http://127.0.0.1:5000/callback"))
    code = query_of(reply.headers["location"])["code"]
    other = redeem(http, code, verifier, client_id="cli", redirect_uri="http://127.0.0.1:5001/callback")
    assert other.status_code == 400 and other.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(("registered", "requested"), [
    (V4, "http://127.0.0.1:8080/other"),
    (V4, "http://127.0.0.2:8080/callback"),
    (V4, "https://127.0.0.1:8080/callback"),
    (V4, "http://localhost:8080/callback"),
    (V4, "http://127.0.0.1:8000@evil.example/callback"),
    (V4, "http://127.0.0.1:8080/callback#x"),
    ("http://localhost/callback", "http://localhost:8080/callback"),
    ("https://app.example/callback", "https://app.example:8443/callback"),
])
def test_authorize_refuses_without_redirecting(lite: Provider, lite_http, registered: str,  # type: ignore[no-untyped-def]
                                               requested: str) -> None:
    register(lite, "cli", public=True, redirect_uris=[registered])
    reply = _authorize(lite_http, auth_params("cli", pkce()[1], redirect_uri=requested))
    assert reply.status_code == 400 and "location" not in reply.headers
    assert "not registered" in reply.text


def test_errors_go_to_the_port_the_app_asked_for(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    register(lite, "cli", public=True, redirect_uris=[V4])
    requested = "http://127.0.0.1:61000/callback"
    reply = _authorize(lite_http, auth_params("cli", pkce()[1], redirect_uri=requested, code_challenge_method="plain"))
    assert reply.status_code == 303 and reply.headers["location"].startswith(requested + "?")
    assert query_of(reply.headers["location"])["error"] == "invalid_request"
