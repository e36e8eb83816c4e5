"""Every refusal of the authorization code flow (RFC 6749 §4.1.2.1, §5.2; RFC 7636; RFC 9700)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from idgate import clock
from idgate.provider import Provider
from idgate.services.authorization_codes import exchange_code
from idgate.services.clients.registry import find_client

from oauth_support import REDIRECT, auth_params, code_flow, pkce, query_of, redeem, register, sign_in_and_consent


def _authorize(http, params: dict[str, str]):  # type: ignore[no-untyped-def]
    return http.get("/authorize?" + urlencode(params), follow_redirects=False)


def _redirected_error(http, params: dict[str, str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    reply = _authorize(http, params)
    assert reply.status_code == 303, reply.text
    assert reply.headers["location"].startswith(REDIRECT + "?")
    return query_of(reply.headers["location"])


@pytest.mark.parametrize("redirect_uri", [
    "https://evil.example/callback", REDIRECT + "/extra", REDIRECT + "?x=1", REDIRECT.upper(),
    "https://app.example/callback#frag", "", None,
])
def test_unregistered_redirect_uri_is_never_redirected_to(lite: Provider, lite_http, redirect_uri) -> None:  # type: ignore[no-untyped-def]
    register(lite)
    params = auth_params(challenge=pkce()[1], redirect_uri=redirect_uri)  # type: ignore[arg-type]
    reply = _authorize(lite_http, params)
    assert reply.status_code == 400 and "location" not in reply.headers
    assert reply.headers["content-type"].startswith("text/html")
    assert "not registered" in reply.text and 'role="alert"' in reply.text


def test_unknown_client_gets_an_error_page(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    reply = _authorize(lite_http, auth_params("nobody", pkce()[1]))
    assert reply.status_code == 400 and "location" not in reply.headers and "not registered" in reply.text
    assert _authorize(lite_http, {}).status_code == 400  # bare GET /authorize: the page, not a 500


@pytest.mark.parametrize(("change", "error"), [
    ({"code_challenge": None}, "invalid_request"),                     # PKCE missing
    ({"code_challenge_method": "plain"}, "invalid_request"),           # plain refused
    ({"code_challenge_method": None}, "invalid_request"),              # missing method means plain
    ({"code_challenge": "short"}, "invalid_request"),
    ({"response_type": "token"}, "unsupported_response_type"),         # no implicit
    ({"response_type": "code id_token"}, "unsupported_response_type"),  # no hybrid
    ({"response_type": None}, "invalid_request"),
    ({"scope": "openid admin"}, "invalid_scope"),
    ({"prompt": "none login"}, "invalid_request"),
    ({"prompt": "select_account"}, "invalid_request"),
    ({"max_age": "-1"}, "invalid_request"),
    ({"response_mode": "fragment"}, "invalid_request"),
    ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    ({"resource": "https://elsewhere.example"}, "invalid_target"),
])
def test_bad_requests_are_reported_to_the_registered_uri(lite: Provider, lite_http, change, error) -> None:  # type: ignore[no-untyped-def]
    register(lite)
    params = auth_params(challenge=pkce()[1], **change)
    result = _redirected_error(lite_http, params)
    assert result["error"] == error, result
    assert result["state"] == params["state"] and result["iss"] == "https://localhost:8443"
    assert "code" not in result


def test_duplicate_parameters_are_refused(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    register(lite)
    params = auth_params(challenge=pkce()[1])
    reply = lite_http.get("/authorize?" + urlencode(params) + "&scope=openid", follow_redirects=False)
    assert query_of(reply.headers["location"])["error"] == "invalid_request"
    reply = lite_http.get("/authorize?" + urlencode(params) + "&client_id=webapp", follow_redirects=False)
    assert reply.status_code == 400 and "location" not in reply.headers


def test_client_without_the_code_grant_is_refused(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    register(lite, "svc", grant_types=["client_credentials"], redirect_uris=[REDIRECT])
    assert _redirected_error(lite_http, auth_params("svc", pkce()[1]))["error"] == "unauthorized_client"


def test_state_is_returned_byte_for_byte(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    register(lite, public=True)
    state = "a b&c=d/é?<script>"
    response, _, _ = code_flow(lite_http, state=state)
    assert response["state"] == state
    denied = sign_in_and_consent(lite_http, auth_params(challenge=pkce()[1], state=state, prompt="consent"),
                                 consent="deny")
    result = query_of(denied.headers["location"])
    assert result == {"error": "access_denied", "error_description": result["error_description"], "state": state,
                      "iss": "https://localhost:8443"}


def test_reused_code_is_refused_and_revokes_its_tokens(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    register(provider, public=True)
    response, verifier, _ = code_flow(http)
    first = redeem(http, response["code"], verifier)
    assert first.status_code == 200
    tokens = first.json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert http.get("/userinfo", headers=bearer).status_code == 200
    second = redeem(http, response["code"], verifier)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    # The tokens the first use produced are revoked: access token deny-listed, refresh family ended.
    assert http.get("/userinfo", headers=bearer).status_code == 401
    refreshed = http.post("/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                          "client_id": "webapp"})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    # the audit trail tells the story: issued, then the replay that revoked it
    from idgate.events import queries as event_queries

    issued = event_queries.search(provider.sessions, kind="token.issued", actor=provider_user_id(provider))
    assert [e.detail["grant"] for e in issued] == ["authorization_code"] and issued[0].client_id == "webapp"
    reuse = event_queries.search(provider.sessions, kind="token.code_reuse")
    assert len(reuse) == 1 and reuse[0].outcome == "refused" and reuse[0].detail["action"] == "tokens_revoked"


def provider_user_id(provider: Provider) -> str:
    from idgate.services import accounts

    return next(u.id for u in accounts.list_users(provider.sessions) if u.username == "alice")


def test_code_for_another_client_is_refused(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    register(provider, public=True)
    register(provider, "other", public=True)
    response, verifier, _ = code_flow(http)
    stolen = redeem(http, response["code"], verifier, client_id="other")
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    assert redeem(http, response["code"], verifier).status_code == 200  # the rightful client still can


@pytest.mark.parametrize("change", [
    {"code_verifier": "A" * 64},                          # wrong verifier
    {"redirect_uri": "https://app.example/other"},        # not the authorization request's
    {"code": "igc_unknown"},
])
def test_code_bound_to_verifier_and_redirect_uri(lite: Provider, lite_http, change) -> None:  # type: ignore[no-untyped-def]
    register(lite, public=True)
    response, verifier, _ = code_flow(lite_http)
    data = {"grant_type": "authorization_code", "client_id": "webapp", "code": response["code"],
            "code_verifier": verifier, "redirect_uri": REDIRECT, **change}
    reply = lite_http.post("/token", data=data)
    assert reply.status_code == 400 and reply.json()["error"] == "invalid_grant"


def test_missing_verifier_is_invalid_request(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    register(lite, public=True)
    response, _, _ = code_flow(lite_http)
    reply = lite_http.post("/token", data={"grant_type": "authorization_code", "client_id": "webapp",
                                      "code": response["code"], "redirect_uri": REDIRECT})
    assert reply.json()["error"] == "invalid_request"


def test_expired_code_is_refused(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    register(provider, public=True)
    response, verifier, _ = code_flow(http)
    client = find_client(provider.sessions, "webapp")
    assert client is not None
    from idgate.errors import InvalidGrant

    params = {"code": response["code"], "code_verifier": verifier, "redirect_uri": REDIRECT}
    with pytest.raises(InvalidGrant) as caught:
        exchange_code(provider, client, params, now=clock.now() + 61)
    assert caught.value.detail == "expired authorization code"


def test_confidential_client_must_authenticate(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    _, secret = register(provider)
    response, verifier, _ = code_flow(http)
    anonymous = redeem(http, response["code"], verifier)  # client_id only
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"
    wrong = redeem(http, response["code"], verifier, secret="igs_wrong")
    assert wrong.status_code == 401 and "Basic" in wrong.headers["www-authenticate"]
    assert redeem(http, response["code"], verifier, secret=secret).status_code == 200


def test_prompt_none_login_and_consent(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    register(provider, public=True)
    assert _redirected_error(http, auth_params(challenge=pkce()[1], prompt="none"))["error"] == "login_required"
    code_flow(http)  # signs in and consents to openid profile things:read
    silent = _redirected_error(http, auth_params(challenge=pkce()[1], prompt="none"))
    assert "code" in silent and "error" not in silent
    more = _redirected_error(http, auth_params(challenge=pkce()[1], prompt="none", scope="openid email"))
    assert more["error"] == "consent_required"
    again = _authorize(http, auth_params(challenge=pkce()[1], prompt="login"))
    assert again.headers["location"].startswith("/interaction/")
    assert 'name="password"' in http.get(again.headers["location"]).text
    aged = _authorize(http, auth_params(challenge=pkce()[1], max_age="0"))
    assert aged.headers["location"].startswith("/interaction/")
    asked = _authorize(http, auth_params(challenge=pkce()[1], prompt="consent"))
    assert 'value="allow"' in http.get(asked.headers["location"]).text
    hinted = _authorize(http, auth_params(challenge=pkce()[1], prompt="login", login_hint="alice"))
    assert 'value="alice"' in http.get(hinted.headers["location"]).text


def test_form_post_response_mode(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    register(lite, public=True)
    verifier, challenge = pkce()
    page = sign_in_and_consent(lite_http, auth_params(challenge=challenge, response_mode="form_post"))
    assert page.status_code == 200 and f'action="{REDIRECT}"' in page.text
    assert 'name="code"' in page.text and 'name="iss"' in page.text and 'name="state"' in page.text
    csp = page.headers["content-security-policy"]
    assert "form-action 'self' https://app.example;" in csp and "script-src 'self'" in csp
    assert "<script src=\"/static/form_post.js\"></script>" in page.text
