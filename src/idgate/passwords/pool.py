"""Run password hashing off the event loop, with a hard bound on concurrency and queueing.

Argon2id at OWASP's baseline costs ~19 MiB and tens of milliseconds per call (OWASP Password
Storage Cheat Sheet, "Argon2id"). Done on the event loop it would stall every other request;
queued without bound, a login storm would grow memory and latency without limit. So:

* a ``ThreadPoolExecutor`` with ``workers`` threads (argon2-cffi and bcrypt release the GIL,
  so threads run hashes truly in parallel, one core each);
* at most ``workers + max_waiting`` calls admitted at once; past that the call fails at once
  with :class:`~idgate.errors.TooManyRequests` (HTTP 429 + ``Retry-After``), which is cheap.

Only running hashes allocate Argon2 memory, so peak hashing memory is ``workers * m``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from idgate.errors import TooManyRequests

from .hashing import (
    DEFAULT_PARAMS,
    HashParams,
    VerifyResult,
    dummy_hash,
    dummy_verify,
    hash_password,
    verify_password,
)

__all__ = ["HashPool"]

T = TypeVar("T")

_FAIL = VerifyResult(False)


def _check(stored_hash: str | None, pw: str, *, params: HashParams = DEFAULT_PARAMS) -> VerifyResult:
    """One verification; ``stored_hash=None`` (unknown user) spends a dummy one, ``ok=False``."""
    if stored_hash is None:
        dummy_verify(pw, params=params)
        return _FAIL
    return verify_password(stored_hash, pw, params=params)


class HashPool:
    """Bounded thread pool for :func:`hash_password` / :func:`verify_password`.

    Create one per process, call the coroutines from the event loop, ``close()`` on shutdown.
    """

    def __init__(
        self,
        workers: int | None = None,
        max_waiting: int | None = None,
        *,
        params: HashParams = DEFAULT_PARAMS,
        retry_after: int = 1,
    ) -> None:
        workers = workers if workers is not None else (os.cpu_count() or 1)
        if workers < 1:
            raise ValueError("workers must be at least 1")
        max_waiting = max_waiting if max_waiting is not None else 64 * workers
        if max_waiting < 0:
            raise ValueError("max_waiting must be >= 0")
        self.workers = workers
        self.max_waiting = max_waiting
        self.params = params
        self._retry_after = retry_after
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="idgate-hash")
        # Counters are touched by the loop thread (admit) and worker threads (start/finish).
        self._lock = threading.Lock()
        self._admitted = 0  # submitted and not finished (waiting + running)
        self._running = 0
        self._closed = False
        # Make the dummy hash now, off-loop, so the first unknown-user login costs one hash too.
        self._executor.submit(dummy_hash, params)

    @property
    def queue_depth(self) -> int:
        """Calls admitted but not yet started on a worker (for metrics)."""
        with self._lock:
            return max(0, self._admitted - self._running)

    @property
    def in_flight(self) -> int:
        """Calls admitted and not yet finished (waiting + running)."""
        with self._lock:
            return self._admitted

    def _run(self, fn: Callable[..., T], *args: object) -> T:
        with self._lock:
            self._running += 1
        try:
            return fn(*args)
        finally:
            with self._lock:
                self._running -= 1

    def _finished(self, _fut: Future[object]) -> None:
        # Runs on completion *and* on cancellation before start, so the slot is always freed.
        with self._lock:
            self._admitted -= 1

    async def _submit(self, fn: Callable[..., T], *args: object) -> T:
        with self._lock:
            if self._closed:
                raise RuntimeError("HashPool is closed")
            if self._admitted >= self.workers + self.max_waiting:
                # Refuse now rather than queue: the caller answers 429 in microseconds.
                raise TooManyRequests(retry_after=self._retry_after, detail="password hash pool full")
            self._admitted += 1
        try:
            fut = self._executor.submit(self._run, fn, *args)
        except BaseException:
            with self._lock:
                self._admitted -= 1
            raise
        fut.add_done_callback(self._finished)
        return await asyncio.wrap_future(fut)

    def verify_now(self, stored_hash: str | None, pw: str) -> VerifyResult:
        """One verification on the calling thread: a hashing worker, inside :meth:`run_job`.
        ``stored_hash=None`` (unknown user) does equal dummy work, ``ok=False``."""
        return _check(stored_hash, pw, params=self.params)

    async def verify(self, stored_hash: str | None, pw: str) -> VerifyResult:
        """Verify off-loop; ``stored_hash=None`` (unknown user) does equal dummy work, ``ok=False``."""
        return await self._submit(self.verify_now, stored_hash, pw)

    async def run_job(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args, verify=self.verify_now)`` on a hashing worker, under the same
        admission bound, in a copy of the caller's context (request id, client address).

        For a caller whose one hash sits between a short read and a short write - a login -
        one trip to a worker instead of three; each trip costs the event loop a hand-off and
        the machine two thread wake-ups. ``fn`` must call ``verify`` at most once."""
        context = contextvars.copy_context()
        return await self._submit(context.run, functools.partial(fn, verify=self.verify_now), *args)

    async def hash(self, pw: str) -> str:
        """Hash off-loop; raises :class:`~idgate.errors.WeakPassword` like :func:`hash_password`."""
        return await self._submit(functools.partial(hash_password, params=self.params), pw)

    def close(self, *, wait: bool = True) -> None:
        """Refuse new calls, drop queued ones, and (by default) wait for running hashes."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=wait, cancel_futures=True)
