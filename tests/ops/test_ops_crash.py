"""SIGKILL in the middle of a login/refresh load: every token reply the client received still works.

Refresh tokens handed out are usable exactly once; the one whose request was cut off by the kill
is either spent (the commit landed, the reply was lost) or still usable once — never half-spent.
Users, keys and the refresh-token chain are intact (a used token always has its successor).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from idgate.services import accounts
from idgate.services import keys as key_service

from ops_support import provider_of
from support import GOOD_PASSWORD, LiveServer, free_port, init_deployment_fast, start_server, stop_server

pytestmark = pytest.mark.slow
LOAD_SECONDS = 1.5


@dataclass
class Chain:
    """One client's view: the replies it received, and the token it had sent when the server died."""

    access: list[str] = field(default_factory=list)
    spent: list[str] = field(default_factory=list)  # refresh tokens whose rotation reply arrived
    latest: str | None = None  # newest refresh token received
    cut_off: str | None = None  # the refresh token in the request that got no reply


def _refresher(server: LiveServer, chain: Chain, stop: threading.Event) -> None:
    with server.client() as c:
        try:
            reply = c.post("/login", json={"username": "alice", "password": GOOD_PASSWORD})
        except httpx.TransportError:
            return
        if reply.status_code != 200:
            return
        chain.access.append(reply.json()["access_token"])
        chain.latest = reply.json()["refresh_token"]
        while not stop.is_set():
            try:
                reply = c.post("/token", data={"grant_type": "refresh_token", "refresh_token": chain.latest})
            except httpx.TransportError:
                chain.cut_off = chain.latest
                return
            assert reply.status_code == 200, reply.text
            chain.spent.append(chain.latest)
            chain.access.append(reply.json()["access_token"])
            chain.latest = reply.json()["refresh_token"]


def _loginer(server: LiveServer, logins: list[Chain], stop: threading.Event) -> None:
    with server.client() as c:
        while not stop.is_set():
            try:
                reply = c.post("/login", json={"username": "bob", "password": GOOD_PASSWORD})
            except httpx.TransportError:
                return
            if reply.status_code == 200:
                logins.append(Chain(access=[reply.json()["access_token"]], latest=reply.json()["refresh_token"]))


def _snapshot(dep) -> tuple[set[str], set[tuple[str, str]]]:  # type: ignore[no-untyped-def]
    with provider_of(dep) as p:
        users = {u.username for u in accounts.list_users(p.sessions)}
        keyset = {(k.kid, k.state) for k in key_service.list_keys(p.sessions)}
    return users, keyset


def test_sigkill_during_load_loses_nothing_that_was_answered(tmp_path: Path, database_url: str) -> None:
    dep = init_deployment_fast(tmp_path / "data", database_url)
    with provider_of(dep) as p:
        for name in ("alice", "bob"):
            accounts.add_user(p.sessions, name, GOOD_PASSWORD, permissions=["things:read"])
    before = _snapshot(dep)
    port = free_port()
    issuer = f"https://localhost:{port}"
    # Every deliberate second use of a refresh token below is a failure from 127.0.0.1; the
    # per-IP token throttle (tested elsewhere) would start answering 429 after 30 of them.
    env = {"IDGATE_THROTTLE_TOKEN_FREE": "1000000"}
    server = start_server(dep, issuer=issuer, port=port, env=env)
    chains = [Chain() for _ in range(4)]
    logins: list[Chain] = []
    stop = threading.Event()
    threads = [threading.Thread(target=_refresher, args=(server, ch, stop)) for ch in chains]
    threads += [threading.Thread(target=_loginer, args=(server, logins, stop)) for _ in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10  # at least LOAD_SECONDS and 20 answered rotations, whichever is later
    started = time.monotonic()
    while time.monotonic() < deadline and (time.monotonic() - started < LOAD_SECONDS
                                           or sum(len(ch.spent) for ch in chains) < 20):
        time.sleep(0.05)
    os.kill(server.process.pid, signal.SIGKILL)  # mid-request: no shutdown, no flush
    server.process.wait()
    stop.set()
    for t in threads:
        t.join(timeout=10)
    assert sum(len(ch.spent) for ch in chains) >= 20, "the load did not get going"
    assert sum(1 for ch in chains if ch.cut_off) >= 1, "the kill did not cut a refresh off"

    server = start_server(dep, issuer=issuer, port=port, env=env)
    try:
        assert _snapshot(dep) == before  # users and keys intact
        with server.client() as c:
            # every access token received is still accepted
            for token in [t for ch in chains + logins for t in ch.access]:
                assert c.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 200

            def spend(token: str) -> int:
                return c.post("/token", data={"grant_type": "refresh_token", "refresh_token": token}).status_code

            # a refresh token received and never presented: usable exactly once
            for ch in logins + [ch for ch in chains if ch.cut_off is None]:
                assert ch.latest is not None
                assert spend(ch.latest) == 200
                assert spend(ch.latest) == 400
            # the token in flight at the kill: spent (commit landed) or usable once, nothing else
            for ch in chains:
                if ch.cut_off is not None:
                    first = spend(ch.cut_off)
                    assert first in (200, 400)
                    assert spend(ch.cut_off) == 400
            # tokens whose rotation was answered are spent for good
            spent = [t for ch in chains for t in ch.spent[-2:]]
            assert spent and all(spend(t) == 400 for t in spent)
        with provider_of(dep) as p, p.engine.connect() as conn:
            orphans = conn.execute(text(
                "SELECT count(*) FROM refresh_tokens r WHERE r.used_at IS NOT NULL AND NOT EXISTS "
                "(SELECT 1 FROM refresh_tokens c WHERE c.parent_hash = r.token_hash)")).scalar()
            assert orphans == 0  # rotation = spend + successor in one transaction
            headless = conn.execute(text(
                "SELECT count(*) FROM refresh_tokens r WHERE NOT EXISTS "
                "(SELECT 1 FROM sessions s WHERE s.id = r.session_id)")).scalar()
            assert headless == 0
            if conn.dialect.name == "sqlite":
                assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    finally:
        stop_server(server)
