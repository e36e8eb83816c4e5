"""Fixtures for the issue-5 tests; the helpers they use live in security_support.py (a unique
module name: every test folder has a conftest.py, so tests never import from one)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from security_support import Env, FakeClock, add_alice, make_env
from support import Deployment, init_deployment_fast


@pytest.fixture
def sec_deployment(tmp_path: Path) -> Deployment:
    return init_deployment_fast(tmp_path / "data")


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def env_factory(sec_deployment: Deployment, fake_clock: FakeClock) -> Iterator[Callable[..., Env]]:
    made: list[Env] = []

    def factory(store: Any = None, alice: bool = True, **overrides: Any) -> Env:
        env = make_env(sec_deployment, fake_clock, store, **overrides)
        if alice and not made:
            add_alice(env.provider)
        made.append(env)
        return env

    yield factory
    for env in made:
        env.provider.close()


@pytest.fixture
def env(env_factory: Callable[..., Env]) -> Env:
    return env_factory()


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    with env.client() as c:
        yield c
