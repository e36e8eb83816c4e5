"""Refresh-ahead of the in-memory caches (services/refresh_ahead.py).

Under continuous use an entry is re-read in the background before it expires, so requests never
find it stale (and never queue for a database read on the event loop's behalf); the bound on how
old an answer may be is unchanged: a change made elsewhere is seen within ``ttl``; a refresh
that fails lets the entry age out rather than extending its life.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from idgate.provider import Provider
from idgate.services import audiences, keys
from idgate.services.audiences import AudienceCache
from idgate.services.clients import registry
from idgate.services.clients.cache import ClientCache
from idgate.services.clients.metadata import ClientSpec
from idgate.services.keys import KeyRingCache

TTL = 0.4


def _busy(check: Callable[[], Any], seconds: float) -> list[Any]:
    """Call ``check`` every 5 ms for ``seconds``, as a stream of requests would; its answers."""
    answers = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answers.append(check())
        time.sleep(0.005)
    return answers


def _until(predicate: Callable[[], bool], seconds: float) -> float | None:
    """Seconds until ``predicate()`` held while being polled every 5 ms, or None."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.005)
    return None


def _confidential(provider: Provider, client_id: str) -> str:
    _, secret = registry.add_client(provider.sessions, ClientSpec(client_id, grant_types=["client_credentials"],
                                                                 scopes=["things:read"]))
    assert secret
    return secret


def test_a_busy_client_entry_never_goes_stale_and_is_reloaded_off_the_request_path(provider: Provider) -> None:
    _confidential(provider, "svc")
    cache = ClientCache(provider.sessions, ttl=TTL)
    loaders: list[str] = []
    original = cache.load

    def counting_load(client_id: str) -> Any:
        loaders.append(threading.current_thread().name)
        return original(client_id)

    cache.load = counting_load  # type: ignore[method-assign]
    cache.load("svc")  # the first read: a request's own (the cache was empty)
    answers = _busy(lambda: cache.fresh("svc"), 4 * TTL)
    assert all(a is not None for a in answers), "a request found the busy entry stale"
    background = [name for name in loaders[1:]]
    # one re-read per half-life or so, every one of them on the refresh thread
    assert 3 <= len(background) <= 12, background
    assert all(name.startswith("idgate-refresh") for name in background), background


def test_a_rotated_client_secret_is_seen_within_the_bound_under_load(provider: Provider) -> None:
    old = _confidential(provider, "svc")
    cache = ClientCache(provider.sessions, ttl=TTL)
    cache.load("svc")
    _busy(lambda: cache.fresh("svc"), TTL)  # the entry is being refreshed ahead now
    new = registry.rotate_secret(provider.sessions, "svc")  # another node, or the CLI

    def sees_new() -> bool:
        entry = cache.fresh("svc")
        return entry is not None and ClientCache.check_secret(entry, new) is not None

    took = _until(sees_new, 3 * TTL)
    assert took is not None and took <= TTL + 0.1, took
    entry = cache.fresh("svc")
    assert entry is not None and ClientCache.check_secret(entry, old) is None


def test_a_busy_key_ring_never_goes_stale_and_sees_a_rotation_within_the_bound(provider: Provider) -> None:
    cache = KeyRingCache(provider.sessions, provider.kek, check_interval=TTL)
    first = cache.get().active.kid
    assert all(_busy(cache.fresh, 3 * TTL)), "a request found the busy key ring stale"
    new_kid = keys.rotate(provider.sessions, provider.settings, provider.kek)
    took = _until(lambda: cache.fresh() and cache.get().active.kid == new_kid, 3 * TTL)
    assert new_kid != first and took is not None and took <= TTL + 0.1, took


def test_a_busy_audience_cache_never_goes_stale_and_sees_a_registration_within_the_bound(
        provider: Provider) -> None:
    cache = AudienceCache(provider.sessions, ttl=TTL)
    cache.registered()
    assert all(_busy(cache.fresh, 3 * TTL)), "a request found the busy audiences stale"
    audiences.add(provider.sessions, "https://new.example")
    took = _until(lambda: cache.fresh() and "https://new.example" in cache.registered(), 3 * TTL)
    assert took is not None and took <= TTL + 0.1, took


def test_a_failing_refresh_lets_the_entry_age_out(provider: Provider, caplog: pytest.LogCaptureFixture) -> None:
    _confidential(provider, "svc")
    cache = ClientCache(provider.sessions, ttl=TTL)
    cache.load("svc")

    def broken_sessions() -> Any:
        raise RuntimeError("database unreachable")

    cache._sessions = broken_sessions  # type: ignore[assignment]
    with caplog.at_level(logging.WARNING, logger="idgate.cache"):
        answers = _busy(lambda: cache.fresh("svc"), 2 * TTL)
    assert answers[0] is not None
    assert answers[-1] is None, "a failed refresh must not extend the entry past its bound"
    assert any("cache refresh failed: RuntimeError" in r.getMessage() for r in caplog.records)


def test_closing_the_provider_waits_for_queued_refreshes(provider: Provider) -> None:
    """A refresh still queued when the provider closes would open a connection on a pool that
    was just disposed (and leave it open): close() waits for the refresh thread first."""
    from sqlalchemy import text

    from idgate.config.loading import load_settings
    from idgate.services import refresh_ahead

    other = Provider(load_settings(provider.settings.data_dir, {"database_url": provider.settings.database_url}))
    done: list[int] = []

    def slow_refresh() -> None:
        time.sleep(0.3)
        with other.engine.connect() as conn:
            done.append(conn.execute(text("SELECT 1")).scalar_one())

    refresh_ahead.schedule(("probe", id(done)), slow_refresh)
    other.close()
    assert done == [1], "close() returned before the queued refresh had run"
