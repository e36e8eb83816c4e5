from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from idgate.provider import Provider
from idgate.server.app import create_app

from support import Deployment, provider_with_alice


@pytest.fixture
def provider(deployment: Deployment) -> Iterator[Provider]:
    with provider_with_alice(deployment) as p:
        yield p


@pytest.fixture
def client(provider: Provider) -> Iterator[TestClient]:
    with TestClient(create_app(provider), base_url="https://localhost:8443") as c:
        yield c

