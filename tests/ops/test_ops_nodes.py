"""Several real `idgate serve` processes on one PostgreSQL database behave as one provider."""

from __future__ import annotations

import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt as pyjwt
import pytest

from idgate.rs import Verifier
from idgate.services import accounts, keys

from ops_support import in_parallel, pg_db, provider_of
from support import GOOD_PASSWORD, IDGATE, REDIS_URL, Deployment, LiveServer, free_port, init_deployment_fast, login, \
    start_server, stop_server

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer]]:
    with pg_db() as url:
        dep = init_deployment_fast(tmp_path_factory.mktemp("nodes") / "data", url)
        with provider_of(dep) as p:
            accounts.add_user(p.sessions, "alice", GOOD_PASSWORD, permissions=["things:read"])
        port_a = free_port()
        issuer = f"https://localhost:{port_a}"  # one issuer for the whole deployment, as behind a load balancer
        # Only the per-account limit is under test here; the per-IP ones would otherwise count
        # every deliberate reuse of a refresh token below (all clients are 127.0.0.1).
        env = {"IDGATE_THROTTLE_ACCOUNT_FREE": "3", "IDGATE_THROTTLE_IP_FREE": "100000",
               "IDGATE_THROTTLE_TOKEN_FREE": "100000"}
        if REDIS_URL:  # throttle counters shared by the nodes (a database of its own: no other test's keys)
            env["IDGATE_REDIS_URL"] = REDIS_URL.rsplit("/", 1)[0] + "/11"
            import redis

            # Redis outlives the test run: start from empty counters, not the last run's.
            with redis.Redis.from_url(env["IDGATE_REDIS_URL"]) as r:
                r.flushdb()
        a, b = in_parallel(lambda: start_server(dep, issuer=issuer, port=port_a, env=env),
                           lambda: start_server(dep, issuer=issuer, env=env))
        try:
            yield a, b
        finally:
            in_parallel(lambda: stop_server(a), lambda: stop_server(b))


def _refresh(server: LiveServer, token: str) -> httpx.Response:
    with server.client() as c:
        return c.post("/token", data={"grant_type": "refresh_token", "refresh_token": token})


def _userinfo(server: LiveServer, token: str) -> int:
    with server.client() as c:
        return c.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code


def test_two_nodes_one_provider(two_nodes: tuple[LiveServer, LiveServer]) -> None:
    a, b = two_nodes
    dep = a.deployment
    with a.client() as c:
        first = login(c).json()
    assert _userinfo(b, first["access_token"]) == 200  # keys are shared through the database

    # login on A, refresh on B; the spent token is refused on A, and its reuse kills the family
    second = _refresh(b, first["refresh_token"])
    assert second.status_code == 200, second.text
    assert _refresh(a, first["refresh_token"]).status_code == 400
    assert _refresh(b, second.json()["refresh_token"]).status_code == 400  # family revoked by the reuse

    # revoke on A (refresh token and access token), refused on B at once
    with a.client() as c:
        fresh = login(c).json()
        assert c.post("/revoke", data={"token": fresh["refresh_token"]}).status_code == 200
        assert c.post("/revoke", data={"token": fresh["access_token"],
                                       "token_type_hint": "access_token"}).status_code == 200
    assert _refresh(b, fresh["refresh_token"]).status_code == 400
    assert _userinfo(b, fresh["access_token"]) == 401

    # a user disabled through the CLI cannot refresh on any node
    with b.client() as c:
        live = login(c).json()
    with provider_of(dep) as p:  # what `idgate user disable` calls
        accounts.set_disabled(p.sessions, "alice", True)
        assert _refresh(a, live["refresh_token"]).status_code == 400
        with b.client() as c:
            assert login(c).status_code == 401
        accounts.set_disabled(p.sessions, "alice", False)

    # key rotation through the CLI is used by both nodes within the 1 s re-read bound
    with a.client() as c:
        old_kid = pyjwt.get_unverified_header(login(c).json()["access_token"])["kid"]
    dep.cli("keys", "rotate")
    rotated_at = time.monotonic()
    seen: dict[str, float] = {}
    while len(seen) < 2 and time.monotonic() - rotated_at < 5:
        for name, node in (("a", a), ("b", b)):
            if name in seen:
                continue
            with node.client() as c:
                token = login(c).json()["access_token"]
            if pyjwt.get_unverified_header(token)["kid"] != old_kid:
                seen[name] = time.monotonic() - rotated_at
                verifier = Verifier(issuer=a.url, audience=a.url, ca=str(dep.ca), min_refetch_interval=0.0)
                assert verifier.verify(token)["sub"]
    assert set(seen) == {"a", "b"}
    # 1 s cache bound + one login (an argon2 hash) + process start-up of the CLI already elapsed
    assert max(seen.values()) < 2.5, seen


@pytest.mark.redis
def test_throttle_counts_failures_on_every_node(two_nodes: tuple[LiveServer, LiveServer]) -> None:
    """With Redis, failed logins on A and on B add up at once (3 free, then back-off)."""
    if not REDIS_URL:
        pytest.skip("IDGATE_TEST_REDIS_URL is not set: the shared throttle needs Redis")
    a, b = two_nodes
    name = "nobody-" + secrets.token_hex(4)  # counted whether or not the account exists
    with a.client() as ca, b.client() as cb:
        codes = [login(c, name, "wrong password, long enough").status_code for c in (ca, cb, ca, cb)]
        assert codes == [401, 401, 401, 401]  # the 4th is past the free 3: the next one must wait
        assert login(cb, name, "wrong password, long enough").status_code == 429
        assert login(ca, name, "wrong password, long enough").status_code == 429


def test_two_nodes_racing_one_refresh_token_exactly_one_wins(two_nodes: tuple[LiveServer, LiveServer]) -> None:
    a, b = two_nodes
    with a.client() as ca, b.client() as cb:
        for _ in range(6):
            token = login(ca).json()["refresh_token"]
            ca.get("/healthz")
            cb.get("/healthz")  # warm connections so both requests leave together
            barrier = threading.Barrier(2)
            codes: list[int] = []
            bodies: list[str] = []

            def spend(client: httpx.Client) -> None:
                barrier.wait()
                reply = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": token})
                codes.append(reply.status_code)
                bodies.append(reply.text)

            threads = [threading.Thread(target=spend, args=(c,)) for c in (ca, cb)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(codes) == [200, 400], (codes, bodies)


def test_several_nodes_starting_together_on_a_fresh_database(tmp_path: Path, pg_database: str) -> None:
    """Migrations take a PostgreSQL advisory lock: concurrent upgrades run them exactly once."""
    import psycopg

    seed = init_deployment_fast(tmp_path / "seed", pg_database)  # a data folder (config + KEK) ...
    with psycopg.connect(pg_database.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        fresh = pg_database + "_f"
        conn.execute(f'CREATE DATABASE "{fresh.rsplit("/", 1)[1]}"')
    try:
        dep = Deployment(seed.data, fresh, seed.admin_password)  # ... pointed at an empty database
        procs = [subprocess.Popen([IDGATE, "db", "upgrade", "--data", str(dep.data), "--database", fresh],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
        results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
        assert all(rc == 0 for _, _, rc in results), results
        with psycopg.connect(fresh) as conn:
            assert len(conn.execute("SELECT version_num FROM alembic_version").fetchall()) == 1
        with provider_of(dep) as p:
            keys.ensure_key(p.sessions, p.settings, p.kek)  # the empty database's first signing key
            accounts.add_user(p.sessions, "alice", GOOD_PASSWORD)
        # two nodes start at the same moment; both migrate (a no-op) under the lock and serve
        port_a = free_port()
        issuer = f"https://localhost:{port_a}"
        started = in_parallel(lambda: start_server(dep, issuer=issuer, port=port_a),
                              lambda: start_server(dep, issuer=issuer))
        try:
            for node in started:
                with node.client() as c:
                    assert login(c).status_code == 200
        finally:
            in_parallel(*[lambda n=n: stop_server(n) for n in started])
    finally:
        with psycopg.connect(pg_database.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{fresh.rsplit("/", 1)[1]}" WITH (FORCE)')


def test_a_dpop_proof_used_on_one_node_is_refused_on_the_other(two_nodes: tuple[LiveServer, LiveServer]) -> None:
    """RFC 9449 §11.1: the proof ids are shared (Redis, or the database without it), and so are
    the nonces (derived from the key-encryption key): a client may move between nodes, a copied
    proof may not."""
    from idgate.jose.dpop_key import DpopKey

    a, b = two_nodes
    issuer = a.url  # the deployment's one issuer: every proof names it, whichever node serves
    key = DpopKey.generate()
    with a.client() as c:
        asked = c.post("/login", json={"username": "alice", "password": GOOD_PASSWORD},
                       headers={"DPoP": key.proof("POST", issuer + "/login")})
        assert asked.status_code == 400 and asked.json()["error"] == "use_dpop_nonce"
        nonce = asked.headers["dpop-nonce"]
        tokens = c.post("/login", json={"username": "alice", "password": GOOD_PASSWORD},
                        headers={"DPoP": key.proof("POST", issuer + "/login", nonce=nonce)}).json()
    assert tokens["token_type"] == "DPoP"
    proof = key.proof("POST", issuer + "/token", nonce=nonce)  # node A's nonce, sent to node B
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    with b.client() as c:
        refreshed = c.post("/token", data=form, headers={"DPoP": proof})
    assert refreshed.status_code == 200, refreshed.text
    replay = {"grant_type": "refresh_token", "refresh_token": refreshed.json()["refresh_token"]}
    with a.client() as c:
        again = c.post("/token", data=replay, headers={"DPoP": proof})
    assert again.status_code == 400 and again.json()["error"] == "invalid_dpop_proof"
    assert "replayed" in again.json()["error_description"]
