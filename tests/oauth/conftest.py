"""Fixtures for the issue-4 tests: an in-process provider with alice, and its ASGI app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from idgate.config.loading import load_settings
from idgate.provider import Provider
from idgate.server.app import create_app
from idgate.services import accounts

from support import GOOD_PASSWORD, Deployment, provider_with_alice


@pytest.fixture
def provider(deployment: Deployment) -> Iterator[Provider]:
    with provider_with_alice(deployment) as p:
        yield p


@pytest.fixture
def http(provider: Provider) -> Iterator[TestClient]:
    with TestClient(create_app(provider), base_url="https://localhost:8443") as c:
        yield c


@pytest.fixture
def lite(tmp_path) -> Iterator[Provider]:  # type: ignore[no-untyped-def]
    """SQLite only: for rule checks where the database cannot matter (keeps the suite fast)."""
    from support import init_deployment_fast

    deployment = init_deployment_fast(tmp_path / "lite")
    p = Provider(load_settings(deployment.data))
    accounts.add_user(p.sessions, "alice", GOOD_PASSWORD, permissions=["things:read", "things:write"],
                      email="alice@example.com", name="Alice Liddell")
    yield p
    p.close()


@pytest.fixture
def lite_http(lite: Provider) -> Iterator[TestClient]:
    with TestClient(create_app(lite), base_url="https://localhost:8443") as c:
        yield c
