"""Services see a revocation before `exp` through Redis when configured (issue 3; off by default)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from idgate.provider import Provider
from idgate.rs import InvalidToken, RedisDenyList, Verifier
from idgate.server.app import create_app

from support import login

REDIS_URL = os.environ.get("IDGATE_TEST_REDIS_URL")
pytestmark = pytest.mark.redis


@pytest.fixture
def redis_client(provider: Provider) -> Iterator[TestClient]:
    if not REDIS_URL:
        pytest.skip("IDGATE_TEST_REDIS_URL is not set: the Redis deny-list needs a Redis server")
    provider.settings = replace(provider.settings, redis_url=REDIS_URL)
    with TestClient(create_app(provider), base_url="https://localhost:8443") as c:
        yield c


def test_a_service_sees_revocation_through_redis(redis_client: TestClient, provider: Provider) -> None:
    token = login(redis_client).json()["access_token"]
    deny = RedisDenyList(REDIS_URL or "", cache_seconds=0.0)
    service = Verifier(issuer=provider.settings.issuer, audience=provider.settings.issuer,
                       jwks=provider.keyring().public_jwks(), deny_list=deny)
    try:
        assert service.verify(token)["preferred_username"] == "alice"
        reply = redis_client.post("/revoke", data={"token": token, "token_type_hint": "access_token"})
        assert reply.status_code == 200
        with pytest.raises(InvalidToken, match="revoked"):
            service.verify(token)
    finally:
        deny.close()


def test_the_deny_list_fails_closed_when_redis_is_unreachable(provider: Provider, client: TestClient) -> None:
    token = login(client).json()["access_token"]
    deny = RedisDenyList("redis://127.0.0.1:1/0", timeout=0.2)
    service = Verifier(issuer=provider.settings.issuer, audience=provider.settings.issuer,
                       jwks=provider.keyring().public_jwks(), deny_list=deny)
    with pytest.raises(InvalidToken, match="revoked"):
        service.verify(token)
