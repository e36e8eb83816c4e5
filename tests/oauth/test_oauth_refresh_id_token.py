"""OIDC Core §12.2: refreshing an openid grant returns a new ID token about the original
authentication (same sub and aud, its auth_time, amr, acr and sid; a new iat and at_hash; no nonce)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import jwt as pyjwt
from sqlalchemy import delete

from idgate import clock
from idgate.mfa import service as mfa
from idgate.mfa import totp
from idgate.provider import Provider
from idgate.services.refresh_grants import client_refresh
from idgate.services.clients.registry import find_client
from idgate.services.oidc import half_hash
from idgate.store.db import transaction
from idgate.store.models_oauth import AuthorizationCode

from oauth_support import auth_params, code_flow, csrf_of, pkce, query_of, redeem, register
from support import GOOD_PASSWORD

ISSUER = "https://localhost:8443"


def _verify(http: Any, token: str, client_id: str = "webapp") -> dict[str, Any]:
    """Verify as an RP would: the signing key from the published JWKS, typ JWT, iss, aud."""
    header = pyjwt.get_unverified_header(token)
    assert header["typ"] == "JWT"
    jwks = http.get("/jwks.json").json()
    key = pyjwt.PyJWKSet.from_dict(jwks)[header["kid"]]
    return pyjwt.decode(token, key.key, algorithms=[header["alg"]], audience=client_id, issuer=ISSUER,
                        options={"require": ["exp", "iat", "sub", "aud", "auth_time", "at_hash"]})


def _refresh(http: Any, token: str, **extra: str) -> dict[str, Any]:
    reply = http.post("/token", data={"grant_type": "refresh_token", "refresh_token": token, "client_id": "webapp",
                                      **extra})
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_refresh_of_an_openid_grant_returns_a_new_id_token(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    register(provider, public=True)
    response, verifier, params = code_flow(http, scope="openid profile email things:read")
    first = redeem(http, response["code"], verifier).json()
    original = _verify(http, first["id_token"])
    assert original["nonce"] == params["nonce"] and original["sid"]

    body = _refresh(http, first["refresh_token"])
    claims = _verify(http, body["id_token"])
    assert claims["sub"] == original["sub"] and claims["aud"] == "webapp" and claims["azp"] == "webapp"
    assert claims["auth_time"] == original["auth_time"] and claims["sid"] == original["sid"]
    assert claims["amr"] == ["pwd"] and claims["acr"] == "1"
    assert "nonce" not in claims  # OIDC Core §12.2 (errata 2): a refreshed ID token SHOULD NOT carry it
    assert claims["jti"] != original["jti"] and claims["iat"] >= original["iat"]
    alg = pyjwt.get_unverified_header(body["id_token"])["alg"]
    assert claims["at_hash"] == half_hash(body["access_token"], alg)
    assert claims["at_hash"] != original["at_hash"]
    assert claims["preferred_username"] == "alice" and claims["email"] == "alice@example.com"
    # the access token issued beside it names the same authentication
    access = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert access["auth_time"] == original["auth_time"]

    # a narrower scope releases fewer claims; without openid there is no ID token at all
    narrow = _refresh(http, body["refresh_token"], scope="openid things:read")
    narrowed = _verify(http, narrow["id_token"])
    assert "preferred_username" not in narrowed and "email" not in narrowed
    assert narrowed["auth_time"] == original["auth_time"]
    plain = _refresh(http, narrow["refresh_token"], scope="things:read")
    assert "id_token" not in plain


def test_later_refresh_keeps_auth_time_and_moves_iat(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    register(lite, public=True)
    response, verifier, _ = code_flow(lite_http)
    first = redeem(lite_http, response["code"], verifier).json()
    original = _verify(lite_http, first["id_token"])
    later = clock.now() + 3 * 3600
    client = find_client(lite.sessions, "webapp")
    assert client is not None
    tokens = client_refresh(lite, client, first["refresh_token"], None, now=later).as_dict()
    claims = pyjwt.decode(tokens["id_token"], options={"verify_signature": False, "verify_exp": False,
                                                       "verify_iat": False})
    assert claims["iat"] == later and claims["exp"] > later
    assert claims["auth_time"] == original["auth_time"] and claims["sid"] == original["sid"]


def test_grant_without_openid_gets_no_id_token(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    register(lite, public=True)
    response, verifier, _ = code_flow(lite_http, scope="things:read")
    first = redeem(lite_http, response["code"], verifier).json()
    assert "id_token" not in first
    body = _refresh(lite_http, first["refresh_token"])
    assert "id_token" not in body and body["access_token"]
    # and asking for openid on refresh cannot widen the grant
    widened = lite_http.post("/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                                             "client_id": "webapp", "scope": "openid things:read"})
    assert widened.status_code == 400 and widened.json()["error"] == "invalid_scope"


def test_refreshed_id_token_outlives_the_authorization_code(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    """The grant's session keeps auth_time, acr and sid (migration 0006): purging the code a day
    after it expired changes nothing for the refreshed ID token."""
    register(lite, public=True)
    response, verifier, _ = code_flow(lite_http)
    first = redeem(lite_http, response["code"], verifier).json()
    original = _verify(lite_http, first["id_token"])
    with transaction(lite.sessions) as session:
        session.execute(delete(AuthorizationCode))
    body = _refresh(lite_http, first["refresh_token"])
    refreshed = _verify(lite_http, body["id_token"])
    for claim in ("sub", "aud", "auth_time", "amr", "acr", "sid"):
        assert refreshed[claim] == original[claim], claim


def test_old_sessions_without_the_columns_fall_back_to_the_code(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    """A grant started before migration 0006 has no auth_time on its session: the code row is
    used while it exists; once purged, no ID token rather than a made-up auth_time."""
    from sqlalchemy import update

    from idgate.store.models import LoginSession

    register(lite, public=True)
    response, verifier, _ = code_flow(lite_http)
    first = redeem(lite_http, response["code"], verifier).json()
    with transaction(lite.sessions) as session:
        session.execute(update(LoginSession).values(auth_time=None, acr=None, sid=None))
    second = _refresh(lite_http, first["refresh_token"])
    assert _verify(lite_http, second["id_token"])["auth_time"] == _verify(lite_http, first["id_token"])["auth_time"]
    with transaction(lite.sessions) as session:
        session.execute(delete(AuthorizationCode))
    body = _refresh(lite_http, second["refresh_token"])
    assert body["access_token"] and body["refresh_token"] and "id_token" not in body


def test_refreshed_id_token_of_a_two_factor_login(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    http = lite_http
    register(lite, public=True, skip_consent=True)
    secret = mfa.enroll_totp(lite, mfa.user_id_of(lite, "alice"), confirmed=True).secret
    verifier, challenge = pkce()
    interaction = http.get("/authorize?" + urlencode(auth_params(challenge=challenge)),
                           follow_redirects=False).headers["location"]
    page = http.get(interaction)
    step = http.post(interaction + "/login", data={"csrf_token": csrf_of(page.text), "username": "alice",
                                                   "password": GOOD_PASSWORD})
    code = totp.code_at(secret, totp.current_step(time.time()))
    done = http.post(interaction + "/otp", data={"csrf_token": csrf_of(step.text), "otp": code},
                     follow_redirects=False)
    back = http.get(done.headers["location"], follow_redirects=False)
    first = redeem(http, query_of(back.headers["location"])["code"], verifier).json()
    body = _refresh(http, first["refresh_token"])
    claims = _verify(http, body["id_token"])
    assert claims["amr"] == ["pwd", "otp"] and claims["acr"] == "2"
