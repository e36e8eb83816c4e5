"""Helpers for the operations tests: in-process set-up (no CLI start-up cost), servers in parallel."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from idgate.config.loading import load_settings
from idgate.provider import Provider

from support import PG_URL, Deployment, pg_db  # noqa: F401  (pg_db re-exported for the ops tests)

T = TypeVar("T")


@contextmanager
def provider_of(dep: Deployment) -> Iterator[Provider]:
    p = Provider(load_settings(dep.data, {"database_url": dep.database_url or None}))
    try:
        yield p
    finally:
        p.close()


def in_parallel(*calls: Callable[[], T]) -> list[T]:
    """Run the calls at the same time; re-raise the first failure."""
    results: list[T | None] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int, call: Callable[[], T]) -> None:
        try:
            results[i] = call()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("IDGATE_") or k.startswith("IDGATE_TEST_")}
