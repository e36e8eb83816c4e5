"""Shared fixtures: data folders on SQLite or PostgreSQL, real HTTPS servers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import Deployment, LiveServer, init_deployment_fast, pg_db, start_server, stop_server


@pytest.fixture(autouse=True)
def _clean_idgate_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("IDGATE_") and not key.startswith("IDGATE_TEST_"):
            monkeypatch.delenv(key)


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    with pg_db() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Run the test on SQLite and, when configured, on PostgreSQL."""
    if request.param == "sqlite":
        return ""
    return str(request.getfixturevalue("pg_database"))


@pytest.fixture
def deployment(tmp_path: Path, database_url: str) -> Deployment:
    return init_deployment_fast(tmp_path / "data", database_url)


@pytest.fixture
def live_server(deployment: Deployment) -> Iterator[LiveServer]:
    server = start_server(deployment)
    try:
        yield server
    finally:
        stop_server(server)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def chromium():  # type: ignore[no-untyped-def]
    """Debian's chromium through Playwright (never `playwright install`: no browser downloads here)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed (apt-get install chromium; .ci/run does it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (PyPI) is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
