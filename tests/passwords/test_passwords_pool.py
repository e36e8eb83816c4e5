"""HashPool: off-loop hashing with bounded concurrency and fast 429s."""

from __future__ import annotations

import asyncio
import threading

import pytest

from idgate.errors import TooManyRequests
from idgate.passwords import HashPool, VerifyResult, hash_password
from idgate.passwords import hashing


def test_hash_and_verify_roundtrip() -> None:
    async def main() -> None:
        pool = HashPool(workers=2)
        try:
            stored = await pool.hash("pooled passphrase")
            assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
            assert await pool.verify(stored, "pooled passphrase") == VerifyResult(True, None)
            assert await pool.verify(stored, "wrong passphrase") == VerifyResult(False)
            assert await pool.verify(None, "unknown user") == VerifyResult(False)
        finally:
            pool.close()

    asyncio.run(main())


def test_unknown_user_does_dummy_work(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = hashing.dummy_verify

    def spy(pw: str, **kw: object) -> bool:
        calls.append(threading.current_thread().name)
        return real(pw, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr("idgate.passwords.pool.dummy_verify", spy)

    async def main() -> None:
        pool = HashPool(workers=1)
        try:
            assert (await pool.verify(None, "pw")).ok is False
        finally:
            pool.close()

    asyncio.run(main())
    assert len(calls) == 1 and calls[0].startswith("idgate-hash")


@pytest.fixture
def held_hashes(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Hashes block until the test releases them, so admission is decided before any finishes.

    Without the gate, a loaded machine can pause the loop thread long enough for a real
    hash to finish between two admissions, freeing a slot and making the counts race.
    """
    release = threading.Event()
    real = hashing.hash_password

    def held(pw: str, **kw: object) -> str:
        assert release.wait(30), "test never released the held hashes"
        return real(pw, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr("idgate.passwords.pool.hash_password", held)
    return release


def test_concurrency_bound_rejects_excess(held_hashes: threading.Event) -> None:
    async def main() -> None:
        pool = HashPool(workers=2, max_waiting=2)
        try:
            tasks = [asyncio.ensure_future(pool.hash(f"storm password {i}")) for i in range(10)]
            await asyncio.sleep(0)  # every task runs up to its admission
            assert pool.in_flight == 4
            held_hashes.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            ok = [r for r in results if isinstance(r, str)]
            refused = [r for r in results if isinstance(r, TooManyRequests)]
            assert len(ok) == 4 and len(refused) == 6
            assert all(r.retry_after == 1 and r.status_code == 429 for r in refused)
            assert pool.queue_depth == 0 and pool.in_flight == 0
            # capacity comes back once the storm has passed
            assert (await pool.hash("after the storm")).startswith("$argon2id$")
        finally:
            pool.close()

    asyncio.run(main())


def test_queue_depth_reported(held_hashes: threading.Event) -> None:
    async def main() -> None:
        pool = HashPool(workers=1, max_waiting=3)
        try:
            tasks = [asyncio.ensure_future(pool.hash(f"queued {i}")) for i in range(4)]
            await asyncio.sleep(0)  # let every task submit
            assert pool.in_flight == 4
            assert pool.queue_depth >= 3  # at most one running (held), the rest waiting
            held_hashes.set()
            await asyncio.gather(*tasks)
            assert pool.queue_depth == 0
        finally:
            pool.close()

    asyncio.run(main())


def test_event_loop_stays_responsive() -> None:
    async def main() -> int:
        pool = HashPool(workers=2)
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.002)

        t = asyncio.create_task(ticker())
        try:
            await asyncio.gather(*(pool.hash(f"busy {i}") for i in range(6)))
        finally:
            stop.set()
            await t
            pool.close()
        return ticks

    # six ~25 ms hashes on two threads take ~75 ms; a blocked loop would tick about once.
    assert asyncio.run(main()) >= 5


def test_closed_pool_refuses() -> None:
    async def main() -> None:
        pool = HashPool(workers=1)
        pool.close()
        with pytest.raises(RuntimeError):
            await pool.hash("after close")

    asyncio.run(main())


def test_default_sizes() -> None:
    pool = HashPool()
    try:
        assert pool.workers >= 1 and pool.max_waiting == 64 * pool.workers
    finally:
        pool.close()
    with pytest.raises(ValueError):
        HashPool(workers=0)


def test_pool_hash_verifies_with_module_function() -> None:
    async def main() -> str:
        pool = HashPool(workers=1)
        try:
            return await pool.hash("cross check")
        finally:
            pool.close()

    stored = asyncio.run(main())
    assert hashing.verify_password(stored, "cross check").ok
    assert hash_password("cross check") != stored
