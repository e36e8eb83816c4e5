"""Key rotation, automatic retirement and revocation, as a running server sees them."""

from __future__ import annotations

import time
from datetime import timedelta

from fastapi.testclient import TestClient

from idgate.clock import utcnow
from idgate.provider import Provider
from idgate.rs import InvalidToken, Verifier
from idgate.services import keys
from idgate.store import keys as key_rows
from idgate.store.db import transaction

from support import login

import pytest


def _kids(client: TestClient) -> list[str]:
    return [k["kid"] for k in client.get("/jwks.json").json()["keys"]]


def test_rotation_publishes_both_then_retires_the_old_key(client: TestClient, provider: Provider) -> None:
    old_kid = provider.keyring().active.kid
    token = login(client).json()["access_token"]
    new_kid = keys.rotate(provider.sessions, provider.settings, provider.kek)
    provider.keys._checked = -1e9  # skip the 1 s re-read interval
    assert set(_kids(client)) == {old_kid, new_kid}
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with transaction(provider.sessions) as s:
        row = key_rows.get(s, old_kid)
        assert row is not None and row.state == key_rows.PUBLISHED
        # Retirement waits for the longest token the old key signed, plus a margin.
        assert row.retire_after >= utcnow() + timedelta(seconds=provider.settings.access_token_ttl)
        row.retire_after = utcnow() - timedelta(seconds=1)
    provider.keys._checked = -1e9
    assert _kids(client) == [new_kid]
    time.sleep(1.1)  # the server's own verifier re-reads the key ring at most once a second
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_revoking_the_active_key_replaces_it_and_kills_its_tokens(client: TestClient, provider: Provider) -> None:
    old_kid = provider.keyring().active.kid
    token = login(client).json()["access_token"]
    replacement = keys.revoke(provider.sessions, provider.settings, provider.kek, old_kid)
    provider.keys._checked = -1e9
    assert replacement and _kids(client) == [replacement]
    time.sleep(1.1)
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert login(client).status_code == 200
    with pytest.raises(InvalidToken):
        Verifier(issuer=provider.settings.issuer, audience=provider.settings.issuer,
                 jwks=provider.keyring().public_jwks()).verify(token)


def test_keys_list_never_shows_private_material(provider: Provider) -> None:
    for info in keys.list_keys(provider.sessions):
        assert "PRIVATE" not in repr(info) and "v1." not in repr(info)


def test_readiness_needs_the_database_keys_and_configured_redis(client: TestClient, provider: Provider) -> None:
    assert client.get("/readyz").json() == {"status": "ready"}
    from dataclasses import replace

    provider.settings = replace(provider.settings, redis_url="redis://127.0.0.1:1/0")  # nothing listens there
    reply = client.get("/readyz")
    assert reply.status_code == 503 and reply.json() == {"status": "unavailable"}
