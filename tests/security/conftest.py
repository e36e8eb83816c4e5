"""Fixtures for the issue-5 tests: a provider with a pinned-clock throttle, alice, the admin."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from idgate.config import load_settings
from idgate.provider import Provider
from idgate.server.app import create_app
from idgate.services import accounts
from idgate.throttle import MemoryStore, Throttle, set_throttle

from support import GOOD_PASSWORD, Deployment, init_deployment_fast

ISSUER = "https://localhost:8443"


class FakeClock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class Env:
    deployment: Deployment
    provider: Provider
    clock: FakeClock
    hashes: list[str] = field(default_factory=list)

    def client(self, **kw: Any) -> TestClient:
        return TestClient(create_app(self.provider), base_url=ISSUER, **kw)


def add_alice(provider: Provider) -> None:
    accounts.add_user(provider.sessions, "alice", GOOD_PASSWORD, roles=["staff"],
                      permissions=["things:read", "things:write"], email="alice@example.com", name="Alice Liddell")


def make_env(deployment: Deployment, clock: FakeClock, store: Any = None, **overrides: Any) -> Env:
    settings = load_settings(deployment.data, {"database_url": deployment.database_url or None, **overrides})
    provider = Provider(settings)
    set_throttle(provider, Throttle(settings, store if store is not None else MemoryStore(), clock=clock))
    env = Env(deployment, provider, clock)
    pool = provider.hash_pool
    original = pool.verify

    async def counting_verify(stored_hash: str | None, pw: str):  # type: ignore[no-untyped-def]
        env.hashes.append("dummy" if stored_hash is None else "real")
        return await original(stored_hash, pw)

    pool.verify = counting_verify  # type: ignore[method-assign]
    return env


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


def admin_token(client: TestClient, deployment: Deployment) -> str:
    reply = client.post("/login", json={"username": "admin", "password": deployment.admin_password})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])
