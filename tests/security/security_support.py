"""Helpers for the issue-5 tests (tests/security): a provider with a pinned-clock throttle,
alice, the admin token. Fixtures using them are in conftest.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from idgate.config.loading import load_settings
from idgate.provider import Provider
from idgate.server.app import create_app
from idgate.services import accounts
from idgate.throttle import MemoryStore, Throttle, set_throttle

from support import GOOD_PASSWORD, Deployment

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
    original = pool.verify_now

    def counting_verify(stored_hash: str | None, pw: str):  # type: ignore[no-untyped-def]
        env.hashes.append("dummy" if stored_hash is None else "real")
        return original(stored_hash, pw)

    # Every verification (HashPool.verify and a login's run_job) goes through verify_now.
    pool.verify_now = counting_verify  # type: ignore[method-assign]
    return env

def admin_token(client: TestClient, deployment: Deployment) -> str:
    reply = client.post("/login", json={"username": "admin", "password": deployment.admin_password})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])
