"""Test helpers shared by every test folder (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import secrets
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

PG_URL = os.environ.get("IDGATE_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("IDGATE_TEST_REDIS_URL")
IDGATE = str(Path(sys.executable).parent / "idgate")
# A password that passes the policy (15+ characters, not common); tests use it for users.
GOOD_PASSWORD = "correct horse battery staple 42"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([IDGATE, *args], input=stdin, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"idgate {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc

@dataclass

class Deployment:
    data: Path
    database_url: str
    admin_password: str

    @property
    def ca(self) -> Path:
        return self.data / "tls" / "ca.pem"

    def cli(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        extra = ("--database", self.database_url) if self.database_url else ()
        return run_cli(*args, "--data", str(self.data), *extra, stdin=stdin, check=check)

def init_deployment(data: Path, database_url: str = "", *extra: str) -> Deployment:
    """`idgate init` through the real CLI process (used where the CLI itself is under test)."""
    args = ["init", "--data", str(data), *extra]
    if database_url:
        args += ["--database", database_url]
    out = run_cli(*args).stdout
    line = next(l for l in out.splitlines() if l.startswith("One-time password"))
    return Deployment(data, database_url, line.rsplit(" ", 1)[1])


def init_deployment_fast(data: Path, database_url: str = "") -> Deployment:
    """The same initialisation as `idgate init`, in-process (no interpreter start-up per test)."""
    from idgate.cli.init import initialise

    result = initialise(data, database=database_url or None)
    assert result.admin_password
    return Deployment(data, database_url, result.admin_password)


@dataclass

class LiveServer:
    deployment: Deployment
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self, **kw: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=ssl.create_default_context(cafile=str(self.deployment.ca)),
                            timeout=30.0, **kw)  # type: ignore[arg-type]

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

def start_server(deployment: Deployment, *extra: str, scheme: str = "https", issuer: str | None = None,
                 port: int | None = None, env: dict[str, str] | None = None) -> LiveServer:
    """``issuer``: share one issuer between several nodes (default: this node's own URL)."""
    port = port or free_port()
    log_path = deployment.data.parent / f"server-{port}.log"
    args = [IDGATE, "serve", "--data", str(deployment.data), "--port", str(port), *extra]
    if deployment.database_url:
        args += ["--database", deployment.database_url]
    env = {**os.environ, "IDGATE_ISSUER": issuer or f"{scheme}://localhost:{port}", **(env or {})}
    with log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    server = LiveServer(deployment, f"{scheme}://localhost:{port}", proc, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"idgate serve exited:\n{server.logs()}")
        try:
            with server.client() as c:
                if c.get("/healthz").status_code == 200:
                    return server
        except httpx.TransportError:
            time.sleep(0.1)
    stop_server(server)
    raise AssertionError(f"idgate serve did not start:\n{server.logs()}")

def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def login(client, username: str = "alice", password: str = GOOD_PASSWORD, **extra: str):  # type: ignore[no-untyped-def]
    return client.post("/login", json={"username": username, "password": password, **extra})


@contextmanager
def pg_db() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards (skips the test when none is configured)."""
    import psycopg

    if not PG_URL:
        pytest.skip("IDGATE_TEST_DATABASE_URL is not set: PostgreSQL tests need a server")
    name = "idgate_t_" + secrets.token_hex(6)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def provider_with_alice(deployment: Deployment) -> Iterator[Any]:
    """A Provider on the deployment with user alice (GOOD_PASSWORD, role staff, things:read/write)."""
    from idgate.config.loading import load_settings
    from idgate.provider import Provider
    from idgate.services import accounts

    provider = Provider(load_settings(deployment.data, {"database_url": deployment.database_url or None}))
    accounts.add_user(provider.sessions, "alice", GOOD_PASSWORD, roles=["staff"],
                      permissions=["things:read", "things:write"], email="alice@example.com", name="Alice Liddell")
    try:
        yield provider
    finally:
        provider.close()
