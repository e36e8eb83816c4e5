"""Refresh-ahead for the in-memory caches of database state (keys, audiences, clients).

Each cache answers from memory for at most ``ttl`` seconds after it last read the database
(1 s: the bound within which a change made elsewhere - the CLI, another node - is seen). Read
on demand, a busy server met that bound the expensive way: when an entry expired, every
request in flight found it stale and went to a worker thread to re-read the same rows (on
the token endpoint, a quarter of one worker's time at 3,200 requests/s). Instead, the first
request that finds an entry past half its life schedules one background re-read and carries
on with the entry, which is still within its bound; under load an entry is replaced before it
expires, and the bound itself is unchanged (an entry older than ``ttl`` is still never used).

One thread serves every cache of the process; a refresh already queued for the same entry is
not queued again (single flight). ``Provider.close`` waits for queued refreshes before it closes
the database pool (:func:`wait`). A refresh that fails is logged and dropped: the entry then
ages out and the next request reads the database itself, where the error reaches it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("idgate.cache")

_lock = threading.Lock()
_pending: set[Hashable] = set()
_executor: ThreadPoolExecutor | None = None


def _run(key: Hashable, refresh: Callable[..., object], args: tuple[object, ...]) -> None:
    try:
        refresh(*args)
    except Exception as exc:  # the entry ages out and a request re-reads it (and sees the error)
        log.warning("cache refresh failed: %s", type(exc).__name__)
    finally:
        with _lock:
            _pending.discard(key)


def schedule(key: Hashable, refresh: Callable[..., object], *args: object) -> None:
    """Run ``refresh(*args)`` on the refresh thread unless one for ``key`` is already waiting or running."""
    global _executor
    if key in _pending:  # the common case under load: already queued (a set lookup, no lock)
        return
    with _lock:
        if key in _pending:
            return
        _pending.add(key)
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="idgate-refresh")
        executor = _executor
    try:
        executor.submit(_run, key, refresh, args)
    except RuntimeError:  # interpreter shutting down: no refresh, the entry simply ages out
        with _lock:
            _pending.discard(key)


def ahead(key: Hashable, age: float, ttl: float, refresh: Callable[..., object], *args: object) -> bool:
    """The rule every cache follows: an entry ``age`` seconds old may answer for ``ttl``; past
    half of that, :func:`schedule` its re-read. Whether it may still answer (``age < ttl``)."""
    if age >= ttl:
        return False
    if age >= ttl / 2:
        schedule(key, refresh, *args)
    return True


def wait(timeout: float = 10.0) -> None:
    """Return once every refresh queued so far has run (the thread runs them in order): called
    before a database pool is closed, so no refresh opens a connection on it afterwards."""
    with _lock:
        executor = _executor
    if executor is None:
        return
    try:
        executor.submit(lambda: None).result(timeout)
    except (RuntimeError, TimeoutError):  # shutting down, or a refresh stuck on its database
        pass
