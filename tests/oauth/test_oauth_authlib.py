"""Authlib's OAuth 2.0 client (PyPI ``authlib``) against a real `idgate serve` over HTTPS:
discovery, authorization code + PKCE S256 with the login form submitted, code exchange with
client_secret_basic, ID token validation, userinfo, refresh, introspection, RP-initiated
logout; a tampered ``state`` is caught; private_key_jwt and client_credentials."""

from __future__ import annotations

import contextlib
import ssl
import time
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt
import pytest

from idgate.services.clients.metadata import ClientSpec
from idgate.services.oidc import half_hash

from oauth_live import LOGOUT, REDIRECT, allow_exchange, approve_device, browser_sign_in, live, register_client
from oauth_support import query_of
from support import GOOD_PASSWORD, LiveServer

pytestmark = [
    pytest.mark.slow,
    # Authlib >= 1.7 warns that plain httpx is deprecated in favour of httpx2.
    pytest.mark.filterwarnings("ignore:The httpx module is deprecated"),
]


def _validate_id_token(server: LiveServer, meta: dict[str, Any], token: dict[str, Any], nonce: str) -> dict[str, Any]:
    ctx = ssl.create_default_context(cafile=str(server.deployment.ca))
    key = pyjwt.PyJWKClient(meta["jwks_uri"], ssl_context=ctx).get_signing_key_from_jwt(token["id_token"])
    claims = pyjwt.decode(token["id_token"], key.key, algorithms=meta["id_token_signing_alg_values_supported"],
                          audience="rp", issuer=meta["issuer"],
                          options={"require": ["exp", "iat", "sub", "auth_time", "nonce", "at_hash"]})
    assert pyjwt.get_unverified_header(token["id_token"])["typ"] == "JWT"
    assert claims["nonce"] == nonce and claims["azp"] == "rp" and claims["amr"] == ["pwd"] and claims["acr"] == "1"
    assert claims["at_hash"] == half_hash(token["access_token"], key.algorithm_name)
    assert abs(claims["auth_time"] - time.time()) < 120
    return claims


def test_authlib_code_flow_end_to_end(tmp_path: Path) -> None:
    from authlib.common.security import generate_token
    from authlib.oauth2.rfc6749.errors import MismatchingStateException as MismatchingStateError
    from authlib.integrations.httpx_client import OAuth2Client

    with live(tmp_path / "data") as server, contextlib.ExitStack() as stack:
        secret = register_client(server.deployment, ClientSpec(
            client_id="rp", name="Relying Party", redirect_uris=[REDIRECT], post_logout_redirect_uris=[LOGOUT],
            scopes=["openid profile email things:read"], introspect=True))
        verify = ssl.create_default_context(cafile=str(server.deployment.ca))
        meta = httpx.get(server.url + "/.well-known/openid-configuration", verify=verify).json()
        assert {"authorization_code", "refresh_token"} <= set(meta["grant_types_supported"])
        assert meta["code_challenge_methods_supported"] == ["S256"]

        client = OAuth2Client("rp", secret, scope="openid profile email", redirect_uri=REDIRECT,
                              code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic",
                              verify=verify)
        stack.enter_context(client)
        verifier, nonce = generate_token(48), generate_token(20)
        url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier,
                                                     nonce=nonce)
        arrived = browser_sign_in(server, url)
        assert query_of(arrived)["iss"] == meta["issuer"]  # RFC 9207

        # A tampered state is caught by the client before the code is spent.
        tampered = arrived.replace(f"state={state}", "state=forged")
        with pytest.raises(MismatchingStateError):
            client.fetch_token(meta["token_endpoint"], authorization_response=tampered, state=state,
                               code_verifier=verifier)

        token = client.fetch_token(meta["token_endpoint"], authorization_response=arrived, state=state,
                                   code_verifier=verifier)
        claims = _validate_id_token(server, meta, token, nonce)
        info = client.get(meta["userinfo_endpoint"]).json()
        assert info == {"sub": claims["sub"], "preferred_username": "alice", "name": "Alice Liddell",
                        "email": "alice@example.com", "email_verified": False}

        introspected = client.post(meta["introspection_endpoint"], data={"token": token["access_token"]},
                                   auth=("rp", secret)).json()
        assert introspected["active"] is True and introspected["client_id"] == "rp"
        assert introspected["sub"] == claims["sub"]
        # An ID token is not an access token: inactive at introspection, 401 at userinfo.
        assert client.post(meta["introspection_endpoint"], data={"token": token["id_token"]},
                           auth=("rp", secret)).json() == {"active": False}
        assert httpx.get(meta["userinfo_endpoint"], verify=verify,
                         headers={"Authorization": f"Bearer {token['id_token']}"}).status_code == 401

        old_refresh = token["refresh_token"]
        refreshed = client.refresh_token(meta["token_endpoint"])
        assert refreshed["refresh_token"] != old_refresh and refreshed["access_token"] != token["access_token"]
        assert client.get(meta["userinfo_endpoint"]).status_code == 200

        # RP-initiated logout with the ID token as hint: straight back to the registered URI.
        with server.client(follow_redirects=False) as browser:
            bye = browser.get(meta["end_session_endpoint"], params={
                "id_token_hint": token["id_token"], "post_logout_redirect_uri": LOGOUT, "state": "s-out"})
            assert bye.status_code == 303 and bye.headers["location"] == LOGOUT + "?state=s-out"
            unregistered = browser.get(meta["end_session_endpoint"], params={
                "id_token_hint": token["id_token"], "post_logout_redirect_uri": "https://evil.example/"})
            assert unregistered.status_code == 400 and "location" not in unregistered.headers
        assert server.logs().count(GOOD_PASSWORD) == 0 and secret not in server.logs()


def test_authlib_private_key_jwt_and_client_credentials(tmp_path: Path) -> None:
    from authlib.integrations.httpx_client import OAuth2Client
    from authlib.oauth2.rfc7523 import PrivateKeyJWT
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256", private=True)
    public = {**key.as_dict(private=False), "kid": "k1", "alg": "ES256", "use": "sig"}
    with live(tmp_path / "data") as server:
        register_client(server.deployment, ClientSpec(
            client_id="svc-jwt", grant_types=["client_credentials"], scopes=["things:read"],
            auth_method="private_key_jwt", jwks={"keys": [public]}))
        secret = register_client(server.deployment, ClientSpec(
            client_id="svc", grant_types=["client_credentials"], scopes=["things:read"]))
        verify = ssl.create_default_context(cafile=str(server.deployment.ca))
        meta = httpx.get(server.url + "/.well-known/openid-configuration", verify=verify).json()
        token_endpoint = meta["token_endpoint"]

        with OAuth2Client("svc-jwt", key, token_endpoint_auth_method="private_key_jwt", scope="things:read",
                          verify=verify) as client:
            client.register_client_auth_method(PrivateKeyJWT(token_endpoint, headers={"kid": "k1"}, alg="ES256"))
            token = client.fetch_token(token_endpoint, grant_type="client_credentials")
        claims = pyjwt.decode(token["access_token"], options={"verify_signature": False})
        assert claims["sub"] == "svc-jwt" and claims["client_id"] == "svc-jwt" and claims["scope"] == "things:read"
        assert not {"preferred_username", "roles", "permissions", "email", "name"} & set(claims)

        with OAuth2Client("svc", secret, token_endpoint_auth_method="client_secret_post", verify=verify) as basic:
            token = basic.fetch_token(token_endpoint, grant_type="client_credentials")
        assert pyjwt.get_unverified_header(token["access_token"])["typ"] == "at+jwt"
        assert httpx.post(token_endpoint, verify=verify, data={"grant_type": "client_credentials"},
                          auth=("svc", "igs_wrong")).status_code == 401


def test_authlib_device_flow(tmp_path: Path) -> None:
    """RFC 8628 from Python: Authlib's OAuth2Client (a public client) starts the device flow,
    polls with fetch_token and gets authorization_pending as an OAuthError, then the tokens once
    the user allowed it; a denied request ends in access_denied."""
    from authlib.integrations.base_client.errors import OAuthError
    from authlib.integrations.httpx_client import OAuth2Client

    from idgate.services.device_flow import DEVICE_GRANT

    with live(tmp_path / "data") as server:
        register_client(server.deployment, ClientSpec(client_id="tv", name="TV", public=True,
                                                      grant_types=[DEVICE_GRANT, "refresh_token"],
                                                      scopes=["openid profile things:read"]))
        verify = ssl.create_default_context(cafile=str(server.deployment.ca))
        with OAuth2Client("tv", token_endpoint_auth_method="none", verify=verify, timeout=10) as client:
            meta = client.request("GET", server.url + "/.well-known/openid-configuration", withhold_token=True).json()

            def start() -> dict[str, Any]:
                reply = client.request("POST", meta["device_authorization_endpoint"], withhold_token=True,
                                    data={"client_id": "tv", "scope": "openid things:read"})
                assert reply.status_code == 200, reply.text
                return dict(reply.json())

            def poll(device_code: str) -> dict[str, Any]:
                return dict(client.fetch_token(meta["token_endpoint"], grant_type=DEVICE_GRANT,
                                               device_code=device_code))

            started = start()
            with pytest.raises(OAuthError) as pending:
                poll(started["device_code"])
            assert pending.value.error == "authorization_pending"
            assert "Device connected" in approve_device(server, started["verification_uri_complete"])
            time.sleep(started["interval"])
            token = poll(started["device_code"])
            assert token["token_type"] == "Bearer" and token["scope"] == "openid things:read"
            claims = _validate_id_token_plain(server, meta, token)
            assert claims["aud"] == "tv" and claims["amr"] == ["pwd"]
            me = client.get(meta["userinfo_endpoint"])  # Authlib sends its new token
            assert me.status_code == 200 and me.json()["sub"] == claims["sub"]

            denied = start()
            approve_device(server, denied["verification_uri_complete"], "deny")
            with pytest.raises(OAuthError) as refused:
                poll(denied["device_code"])
            assert refused.value.error == "access_denied"


def _validate_id_token_plain(server: LiveServer, meta: dict[str, Any], token: dict[str, Any]) -> dict[str, Any]:
    ctx = ssl.create_default_context(cafile=str(server.deployment.ca))
    key = pyjwt.PyJWKClient(meta["jwks_uri"], ssl_context=ctx).get_signing_key_from_jwt(token["id_token"])
    return dict(pyjwt.decode(token["id_token"], key.key, algorithms=meta["id_token_signing_alg_values_supported"],
                             audience="tv", issuer=meta["issuer"]))


def test_authlib_token_exchange(tmp_path: Path) -> None:
    """RFC 8693 from Python: Authlib's OAuth2Client (client_secret_basic) calls fetch_token with
    the token-exchange grant, alice's token as subject and its own client_credentials token as
    actor; the new token names the actor in ``act``."""
    from authlib.integrations.httpx_client import OAuth2Client

    from idgate.services.token_exchange import ACCESS_TOKEN_TYPE, EXCHANGE_GRANT

    with live(tmp_path / "data") as server:
        secret = register_client(server.deployment, ClientSpec(
            client_id="backend", grant_types=[EXCHANGE_GRANT, "client_credentials"], scopes=["things:read"]))
        with server.client() as http:
            subject = http.post("/login", json={"username": "alice", "password": GOOD_PASSWORD}).json()["access_token"]
        own = pyjwt.decode(subject, options={"verify_signature": False})
        allow_exchange(server.deployment, "backend", own["aud"], "https://billing.example")
        verify = ssl.create_default_context(cafile=str(server.deployment.ca))
        with OAuth2Client("backend", secret, verify=verify, timeout=10) as client:
            actor = client.fetch_token(server.url + "/token", grant_type="client_credentials")["access_token"]
            token = client.fetch_token(server.url + "/token", grant_type=EXCHANGE_GRANT, subject_token=subject,
                                       subject_token_type=ACCESS_TOKEN_TYPE, actor_token=actor,
                                       actor_token_type=ACCESS_TOKEN_TYPE, audience="https://billing.example")
    assert token["issued_token_type"] == ACCESS_TOKEN_TYPE
    claims = pyjwt.decode(token["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "https://billing.example" and claims["act"] == {"sub": "backend"}
    assert claims["sub"] == own["sub"]
