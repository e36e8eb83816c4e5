"""Fixtures for the issue-4 tests: an in-process provider with alice, and its ASGI app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from idgate.config import load_settings
from idgate.provider import Provider
from idgate.server.app import create_app
from idgate.services import accounts

from support import GOOD_PASSWORD, Deployment


@pytest.fixture
def provider(deployment: Deployment) -> Iterator[Provider]:
    settings = load_settings(deployment.data, {"database_url": deployment.database_url or None})
    p = Provider(settings)
    accounts.add_user(p.sessions, "alice", GOOD_PASSWORD, roles=["staff"], permissions=["things:read", "things:write"],
                      email="alice@example.com", name="Alice Liddell")
    yield p
    p.close()


@pytest.fixture
def http(provider: Provider) -> Iterator[TestClient]:
    with TestClient(create_app(provider), base_url="https://localhost:8443") as c:
        yield c
