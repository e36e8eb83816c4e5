"""Refresh rotation, reuse detection, revocation and logout (RFC 6749 §6, RFC 9700 §4.14, RFC 7009)."""

from __future__ import annotations

import threading

import httpx
from fastapi.testclient import TestClient

from idgate import ids
from idgate.provider import Provider
from idgate.services import accounts
from idgate.services.refresh_grants import refresh_grant
from idgate.errors import InvalidGrant
from idgate.store.db import transaction
from idgate.store.models import RefreshToken

from support import GOOD_PASSWORD, login


def _refresh(client: TestClient, token: str, **extra: str) -> httpx.Response:
    return client.post("/token", data={"grant_type": "refresh_token", "refresh_token": token, **extra})


def test_login_returns_an_opaque_refresh_token_stored_only_as_a_hash(client: TestClient, provider: Provider) -> None:
    body = login(client).json()
    token = body["refresh_token"]
    assert token.startswith("igr_") and len(token) >= 4 + 43  # 32 random bytes in base64url
    with transaction(provider.sessions) as s:
        row = s.get(RefreshToken, ids.token_hash(token))
        assert row is not None and row.token_hash != token
        assert (row.absolute_expires_at - row.created_at).days == 30
        assert (row.expires_at - row.created_at).days == 14


def test_every_refresh_rotates(client: TestClient) -> None:
    first = login(client).json()["refresh_token"]
    reply = _refresh(client, first)
    assert reply.status_code == 200 and reply.headers["cache-control"] == "no-store"
    second = reply.json()["refresh_token"]
    assert second != first and reply.json()["access_token"]
    assert _refresh(client, second).status_code == 200


def test_reuse_revokes_the_whole_family(client: TestClient) -> None:
    first = login(client).json()["refresh_token"]
    second = _refresh(client, first).json()["refresh_token"]
    replay = _refresh(client, first)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert _refresh(client, second).status_code == 400  # the thief's or the client's copy: both dead


def test_scope_can_narrow_but_not_widen(client: TestClient) -> None:
    token = login(client, scope="things:read").json()["refresh_token"]
    wider = _refresh(client, token, scope="things:read things:write")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"


def test_password_change_and_disable_end_refresh_tokens(client: TestClient, provider: Provider) -> None:
    token = login(client).json()["refresh_token"]
    accounts.set_password(provider.sessions, "alice", GOOD_PASSWORD + " changed")
    assert _refresh(client, token).status_code == 400
    token = login(client, password=GOOD_PASSWORD + " changed").json()["refresh_token"]
    accounts.set_disabled(provider.sessions, "alice", True)
    assert _refresh(client, token).status_code == 400


def test_token_endpoint_input_rules(client: TestClient) -> None:
    assert client.get("/token").status_code == 405
    assert client.post("/token", json={"grant_type": "refresh_token"}).status_code == 415
    assert client.post("/token", data={"grant_type": "password"}).json()["error"] == "unsupported_grant_type"
    assert client.post("/token", data={"grant_type": "refresh_token"}).json()["error"] == "invalid_request"
    assert _refresh(client, "igr_unknown").json()["error"] == "invalid_grant"
    assert _refresh(client, login(client).json()["refresh_token"], client_id="someone-else").status_code == 400


def test_concurrent_refresh_exactly_one_wins(provider: Provider, client: TestClient) -> None:
    for _ in range(3):
        token = login(client).json()["refresh_token"]
        results: list[str] = []
        barrier = threading.Barrier(4)

        def use() -> None:
            barrier.wait()
            try:
                refresh_grant(provider, token, client_id=None)
                results.append("ok")
            except InvalidGrant:
                results.append("refused")

        threads = [threading.Thread(target=use) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == ["ok", "refused", "refused", "refused"]


def test_revoke_refresh_token_and_access_token(client: TestClient) -> None:
    body = login(client).json()
    assert client.post("/revoke", data={"token": body["refresh_token"]}).status_code == 200
    assert _refresh(client, body["refresh_token"]).status_code == 400
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/userinfo", headers=auth).status_code == 200
    assert client.post("/revoke", data={"token": body["access_token"], "token_type_hint": "access_token"}).status_code == 200
    assert client.get("/userinfo", headers=auth).status_code == 401
    assert client.post("/revoke", data={"token": "garbage"}).status_code == 200  # RFC 7009 §2.2


def test_logout_ends_the_session(client: TestClient) -> None:
    body = login(client).json()
    other = login(client).json()
    reply = client.post("/logout", data={"refresh_token": body["refresh_token"]},
                        headers={"Authorization": f"Bearer {body['access_token']}"})
    assert reply.status_code == 200
    assert _refresh(client, body["refresh_token"]).status_code == 400
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 401
    assert _refresh(client, other["refresh_token"]).status_code == 200  # other sessions live on


def test_revocation_is_bound_to_the_caller(client: TestClient, provider: Provider) -> None:
    """RFC 7009 §2.1: a caller may revoke only tokens issued to it."""
    from idgate.services.clients.metadata import ClientSpec
    from idgate.services.clients.registry import add_client

    _view, secret = add_client(provider.sessions, ClientSpec(client_id="batch", grant_types=["client_credentials"]))
    body = login(client).json()  # first-party tokens
    for token in (body["refresh_token"], body["access_token"]):
        reply = client.post("/revoke", data={"token": token}, auth=("batch", secret or ""))
        assert reply.status_code == 200  # §2.2: 200 whatever the token...
    assert _refresh(client, body["refresh_token"]).status_code == 200  # ...but another client's stay valid
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 200
    wrong = client.post("/revoke", data={"token": body["refresh_token"]}, auth=("batch", "not the secret"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
