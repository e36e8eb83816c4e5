"""Throttling and lockout (issue 5): back-off before any hash, lockout, unlock, known devices,
bounded memory, Redis across replicas, and X-Forwarded-For from untrusted peers ignored."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable

import pytest

from idgate.throttle import ACCOUNT, MemoryStore, Policy, RedisStore, Throttle, set_throttle

from security_support import Env, FakeClock, admin_token, make_env
from support import GOOD_PASSWORD, REDIS_URL, login

WRONG = "definitely not the password"


# --- the stores --------------------------------------------------------------------------

def _check_backoff(store: object) -> None:
    key = "acct:" + secrets.token_hex(8)
    policy = Policy(free=2, base=1, max_delay=8, window=3600)
    now = 100.0
    assert store.hit(key, policy, now).allowed  # type: ignore[attr-defined]
    assert store.hit(key, policy, now).allowed  # type: ignore[attr-defined]
    third = store.hit(key, policy, now)  # type: ignore[attr-defined]
    assert third.allowed and third.failures == 3  # counted; the *next* one must wait 1 s
    waits = []
    for _ in range(5):
        refused = store.hit(key, policy, now)  # type: ignore[attr-defined]
        assert not refused.allowed
        waits.append(round(refused.retry_after))
        now += refused.retry_after
        assert store.hit(key, policy, now).allowed  # type: ignore[attr-defined]
    assert waits == [1, 2, 4, 8, 8]  # doubling, capped at max_delay
    store.reset(key)  # type: ignore[attr-defined]
    assert store.peek(key, now).failures == 0  # type: ignore[attr-defined]
    store.hit(key, policy, now)  # type: ignore[attr-defined]
    store.refund(key)  # type: ignore[attr-defined]
    assert store.peek(key, now).failures == 0  # type: ignore[attr-defined]


def _check_atomic(store: object) -> None:
    """50 concurrent attempts at the same instant: exactly free + 1 get through."""
    key = "ip:" + secrets.token_hex(8)
    policy = Policy(free=5, base=1, max_delay=60, window=3600)
    allowed = []
    barrier = threading.Barrier(50)

    def attempt() -> None:
        barrier.wait()
        allowed.append(store.hit(key, policy, 500.0).allowed)  # type: ignore[attr-defined]

    threads = [threading.Thread(target=attempt) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 6


def _check_clock_order(store: object) -> None:
    """Attempts within the free allowance never refuse each other, whatever order their clock
    readings reach the store in (threads, or nodes whose clocks differ by a few ms)."""
    key = "tok:" + secrets.token_hex(8)
    policy = Policy(free=5, base=1, max_delay=60, window=3600)
    for now in (100.0, 99.99, 100.01, 99.95):
        assert store.hit(key, policy, now).allowed, now  # type: ignore[attr-defined]
    # past the allowance the back-off still holds, also for an earlier reading
    assert store.hit(key, policy, 100.02).allowed  # type: ignore[attr-defined]
    assert store.hit(key, policy, 100.03).allowed  # type: ignore[attr-defined]  # 6th: counted, starts the wait
    assert not store.hit(key, policy, 100.04).allowed  # type: ignore[attr-defined]
    assert not store.hit(key, policy, 99.9).allowed  # type: ignore[attr-defined]


def test_memory_store_backoff_and_atomicity() -> None:
    _check_backoff(MemoryStore())
    _check_atomic(MemoryStore())
    _check_clock_order(MemoryStore())


def test_memory_store_is_bounded() -> None:
    store = MemoryStore(max_entries=1000)
    policy = Policy(free=5, base=1, max_delay=60, window=3600)
    for i in range(20_000):
        store.hit(f"acct:{i}", policy, 1.0)
    assert len(store) == 1000 and store.evictions == 19_000
    assert store.peek("acct:19999", 1.0).failures == 1  # the newest survive


def test_memory_store_forgets_after_the_window() -> None:
    store = MemoryStore()
    policy = Policy(free=0, base=1, max_delay=60, window=60)
    assert store.hit("k", policy, 0.0).allowed
    assert not store.hit("k", policy, 0.5).allowed
    assert store.hit("k", policy, 61.0).failures == 1  # idle past the window: a fresh count


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        pytest.skip("IDGATE_TEST_REDIS_URL is not set: Redis tests need a server")
    return REDIS_URL


@pytest.mark.redis
def test_redis_store_backoff_and_atomicity(redis_url: str) -> None:
    prefix = f"idgate-test:{secrets.token_hex(4)}:"
    store = RedisStore(redis_url, prefix=prefix)
    try:
        _check_backoff(store)
        _check_atomic(store)
        _check_clock_order(store)
    finally:
        store.close()
        _drop_keys(redis_url, prefix)


def _drop_keys(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)
    client.close()


# --- login -------------------------------------------------------------------------------

def test_account_backoff_answers_429_before_any_hash(env: Env) -> None:
    with env.client() as c:
        for _ in range(5):  # throttle_account_free = 5
            assert login(c, password=WRONG).status_code == 401
        assert env.hashes.count("real") == 5
        hashes_before = len(env.hashes)
        reply = login(c, password=WRONG)
        assert reply.status_code == 401  # the 6th is counted and checked, and starts the back-off
        for _ in range(50):
            throttled = login(c, password=GOOD_PASSWORD)  # even the right password waits
            assert throttled.status_code == 429
        assert throttled.headers["retry-after"] == "1"
        assert throttled.json()["error"] == "slow_down"
        assert len(env.hashes) == hashes_before + 1  # 50 throttled requests: not one hash
        env.clock.advance(1)
        assert login(c, password=WRONG).status_code == 401
        assert login(c, password=GOOD_PASSWORD).headers["retry-after"] == "2"  # doubled
        env.clock.advance(2)
        assert login(c).status_code == 200  # success resets the account's count
        assert login(c, password=WRONG).status_code == 401


def test_unknown_and_existing_names_are_throttled_alike(env: Env) -> None:
    with env.client() as c:
        replies = {}
        for name in ("alice", "nobody-here"):
            for _ in range(6):
                login(c, username=name, password=WRONG)
            replies[name] = login(c, username=name, password=WRONG)
    assert replies["alice"].status_code == replies["nobody-here"].status_code == 429
    assert replies["alice"].content == replies["nobody-here"].content


def test_lockout_after_the_limit_then_admin_unlock(env_factory: Callable[..., Env]) -> None:
    env = env_factory(throttle_lockout=8, throttle_ip_free=1000)
    with env.client() as c:
        for _ in range(8):
            assert login(c, password=WRONG).status_code in (401, 429)
            env.clock.advance(1000)
        real_hashes = env.hashes.count("real")
        locked = login(c, password=GOOD_PASSWORD)
        assert locked.status_code == 403 and "locked" in locked.json()["error_description"]
        env.clock.advance(1000)
        again = login(c, password=GOOD_PASSWORD)  # still locked, and no hash spent on it
        assert again.status_code == 403 and env.hashes.count("real") == real_hashes
        ghost = None
        for _ in range(9):
            ghost = login(c, username="ghost", password=WRONG)
            env.clock.advance(1000)
        assert ghost is not None and ghost.status_code == 403  # unknown names lock the same way
        assert ghost.content == again.content
        from idgate.events import queries as event_queries

        locks = event_queries.search(env.provider.sessions, kind="account.locked")
        assert sorted(str(e.detail.get("username")) for e in locks) == ["None", "alice"]  # never the unknown name
        assert all(e.detail["failures"] == 8 for e in locks)

        token = admin_token(c, env.deployment)
        reply = c.post("/admin/users/alice/unlock", headers={"Authorization": f"Bearer {token}"})
        assert reply.status_code == 200 and reply.json() == {"username": "alice", "was_locked": True}
        assert login(c).status_code == 200


def test_cli_unlock_works_on_a_running_server(env_factory: Callable[..., Env]) -> None:
    env = env_factory(throttle_lockout=3, throttle_ip_free=1000)
    with env.client() as c:
        for _ in range(4):
            login(c, password=WRONG)
            env.clock.advance(1000)
        assert login(c).status_code == 403
        out = env.deployment.cli("user", "unlock", "alice")  # another process, the DB lock is shared
        assert "unlocked alice" in out.stdout
        env.clock.advance(1000)
        assert login(c).status_code == 200


def test_known_device_is_not_locked_out_by_an_attack_from_elsewhere(env_factory: Callable[..., Env]) -> None:
    env = env_factory(throttle_lockout=10, behind_proxy=True, trusted_proxies="127.0.0.1")
    with env.client(client=("127.0.0.1", 40000)) as c:
        owner = {"X-Forwarded-For": "198.51.100.7"}
        first = c.post("/login", json={"username": "alice", "password": GOOD_PASSWORD}, headers=owner)
        device = first.json()["device_token"]
        assert device.startswith("igd_")
        attacker = {"X-Forwarded-For": "203.0.113.66"}
        for _ in range(40):
            c.post("/login", json={"username": "alice", "password": WRONG}, headers=attacker)
            env.clock.advance(60)
        # The account is locked for everyone without the device token...
        assert c.post("/login", json={"username": "alice", "password": GOOD_PASSWORD}, headers=owner).status_code == 403
        # ...and the owner's known device still gets in, from anywhere.
        ok = c.post("/login", json={"username": "alice", "password": GOOD_PASSWORD, "device_token": device},
                    headers={"X-Forwarded-For": "192.0.2.1"})
        assert ok.status_code == 200, ok.text
        # A device token of another account, or a forged one, is no help.
        forged = device[:-4] + ("AAAA" if not device.endswith("AAAA") else "BBBB")
        assert c.post("/login", json={"username": "alice", "password": GOOD_PASSWORD, "device_token": forged},
                      headers=owner).status_code == 403


def test_a_device_token_stops_counting_as_known_after_ten_wrong_passwords(env: Env) -> None:
    with env.client() as c:
        device = login(c).json()["device_token"]
        for _ in range(11):
            c.post("/login", json={"username": "alice", "password": WRONG, "device_token": device})
            env.clock.advance(5000)
        # Past its own budget the device token is ignored: the account counter applies again.
        for _ in range(6):
            c.post("/login", json={"username": "alice", "password": WRONG, "device_token": device})
        assert c.post("/login", json={"username": "alice", "password": GOOD_PASSWORD,
                                      "device_token": device}).status_code == 429


def test_ip_backoff_covers_many_accounts_and_other_ips_are_unaffected(env_factory: Callable[..., Env]) -> None:
    env = env_factory(behind_proxy=True, trusted_proxies="127.0.0.1")
    with env.client(client=("127.0.0.1", 40000)) as c:
        stuffing = {"X-Forwarded-For": "203.0.113.9"}
        statuses = [c.post("/login", json={"username": f"user{i}", "password": WRONG}, headers=stuffing).status_code
                    for i in range(40)]
        assert statuses[:20] == [401] * 20 and statuses[-1] == 429  # throttle_ip_free = 20
        hashes = len(env.hashes)
        assert hashes <= 21
        other = c.post("/login", json={"username": "alice", "password": GOOD_PASSWORD},
                       headers={"X-Forwarded-For": "198.51.100.20"})
        assert other.status_code == 200


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(env_factory: Callable[..., Env]) -> None:
    """A client rotating X-Forwarded-For cannot escape the per-IP limit unless it is a trusted proxy."""
    env = env_factory(behind_proxy=True, trusted_proxies="10.9.9.9")
    with env.client(client=("192.0.2.50", 40000)) as c:
        statuses = [c.post("/login", json={"username": f"user{i}", "password": WRONG},
                           headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(25)]
    assert statuses.count(429) >= 4  # all 25 counted against 192.0.2.50, the real peer
    from idgate.events import queries as event_queries

    ips = {e.ip for e in event_queries.search(env.provider.sessions, kind="login.*", limit=100)}
    assert ips == {"192.0.2.50"}


def test_refresh_failures_are_throttled_per_ip_and_good_tokens_give_back(env: Env) -> None:
    with env.client() as c:
        refresh = login(c).json()["refresh_token"]
        for _ in range(40):  # a valid holder refreshing often is never slowed down
            reply = c.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh})
            assert reply.status_code == 200, reply.text
            refresh = reply.json()["refresh_token"]
        codes = [c.post("/token", data={"grant_type": "refresh_token", "refresh_token": "igr_" + "x" * 43}).status_code
                 for _ in range(35)]
    assert codes[:30] == [400] * 30 and codes[-1] == 429


def test_wrong_one_time_codes_are_throttled(env: Env) -> None:
    from idgate.mfa import service as mfa

    user_id = mfa.user_id_of(env.provider, "alice")
    mfa.enroll_totp(env.provider, user_id, confirmed=True)
    with env.client() as c:
        codes = [login(c, otp="000000").status_code for _ in range(8)]
        assert codes[:5] == [401] * 5 and 429 in codes  # throttle_mfa_free = 5


@pytest.mark.redis
def test_limits_hold_across_two_replicas_sharing_redis(redis_url: str, sec_deployment, fake_clock: FakeClock) -> None:
    """Two providers (two 'processes') on the same database and Redis: failures on one count on
    the other, so an attacker gains nothing by spreading requests over replicas."""
    prefix = f"idgate-test:{secrets.token_hex(4)}:"
    envs = [make_env(sec_deployment, fake_clock, RedisStore(redis_url, prefix=prefix), redis_url=redis_url)
            for _ in range(2)]
    try:
        from security_support import add_alice

        add_alice(envs[0].provider)
        with envs[0].client() as a, envs[1].client() as b:
            statuses = [login(a if i % 2 else b, password=WRONG).status_code for i in range(8)]
            assert statuses[:6] == [401] * 6 and statuses[6:] == [429, 429]
            fake_clock.advance(1)
            assert login(a).status_code == 200
            assert Throttle.key(ACCOUNT, "alice")  # keys are digests, never the name
            import redis

            client = redis.Redis.from_url(redis_url)
            keys = client.keys(prefix + "*")
            client.close()
            assert keys and all(b"alice" not in k for k in keys)
    finally:
        for e in envs:
            e.provider.close()
        _drop_keys(redis_url, prefix)


def test_serve_refuses_to_start_with_an_unreachable_redis(sec_deployment) -> None:
    from support import free_port

    proc = sec_deployment.cli("serve", "--redis", f"redis://127.0.0.1:{free_port()}/0", check=False)
    assert proc.returncode != 0 and "redis_url" in proc.stderr


@pytest.mark.redis
def test_throttle_for_uses_redis_when_configured(sec_deployment, redis_url: str) -> None:
    from idgate.config.loading import load_settings
    from idgate.provider import Provider
    from idgate.throttle import throttle_for

    provider = Provider(load_settings(sec_deployment.data, {"redis_url": redis_url}))
    try:
        assert throttle_for(provider).store.name == "redis"
        set_throttle(provider, Throttle(provider.settings, MemoryStore()))
        assert throttle_for(provider).store.name == "memory"
    finally:
        provider.close()
