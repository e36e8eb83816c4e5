"""The authorization code flow in-process: success path, tokens, ID token, userinfo, refresh."""

from __future__ import annotations

import jwt as pyjwt

from idgate.provider import Provider
from idgate.services.oidc import half_hash

from oauth_support import REDIRECT, code_flow, redeem, register


def test_full_code_flow_public_client(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    register(provider, public=True)
    response, verifier, params = code_flow(http)
    assert response["state"] == params["state"] and response["iss"] == "https://localhost:8443"
    reply = redeem(http, response["code"], verifier)
    assert reply.status_code == 200, reply.text
    assert reply.headers["cache-control"] == "no-store"
    body = reply.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"] and body["id_token"]
    assert set(body["scope"].split()) == {"openid", "profile", "things:read"}
    header = pyjwt.get_unverified_header(body["id_token"])
    assert header["typ"] == "JWT"
    idt = pyjwt.decode(body["id_token"], options={"verify_signature": False})
    assert idt["aud"] == "webapp" and idt["nonce"] == params["nonce"] and idt["acr"] == "1"
    assert idt["amr"] == ["pwd"] and idt["auth_time"] <= idt["iat"] and idt["sid"]
    assert idt["at_hash"] == half_hash(body["access_token"], header["alg"])
    at = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert pyjwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"
    assert at["client_id"] == "webapp" and at["permissions"] == ["things:read"] and "roles" not in at
    info = http.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200, info.text
    assert info.json() == {"sub": idt["sub"], "preferred_username": "alice", "name": "Alice Liddell"}
    again = http.post("/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                                      "client_id": "webapp"})
    assert again.status_code == 200, again.text
    assert again.json()["refresh_token"] != body["refresh_token"]
    from idgate.events import queries as event_queries

    refreshed = event_queries.search(provider.sessions, kind="token.refreshed", actor=idt["sub"])
    assert len(refreshed) == 1 and refreshed[0].client_id == "webapp"
    assert refreshed[0].detail["jti"] == pyjwt.decode(again.json()["access_token"],
                                                       options={"verify_signature": False})["jti"]
    assert REDIRECT
