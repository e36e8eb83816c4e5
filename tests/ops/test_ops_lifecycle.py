"""`idgate serve --workers N` and graceful shutdown on SIGTERM: in-flight requests finish."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from idgate.services import accounts

from ops_support import in_parallel, provider_of
from support import GOOD_PASSWORD, LiveServer, init_deployment_fast, start_server, stop_server

pytestmark = pytest.mark.slow
METRICS_TOKEN = "ops-" + "k" * 40


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def _workers(pid: int) -> list[int]:
    """The supervisor's worker processes (spawned interpreters)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    children = [int(p) for p in path.read_text().split()] if path.exists() else []
    found = []
    for child in children:
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except OSError:
            pass
    return found


def _in_flight_then_sigterm(server: LiveServer, n: int) -> list[int]:
    """Send n slow logins (one hashing thread), SIGTERM while they are queued, collect the answers."""
    clients = [server.client() for _ in range(n)]
    for c in clients:
        c.get("/healthz")  # connections open before the signal, as a load balancer's would be
    def one(c: httpx.Client) -> int:
        try:
            return c.post("/login", json={"username": "alice", "password": GOOD_PASSWORD}).status_code
        except httpx.TransportError as exc:
            return -1 if "refused" in str(exc).lower() else -2

    def terminate() -> int:
        time.sleep(0.3)  # the logins are in the server now, waiting for the hashing thread
        os.kill(server.process.pid, signal.SIGTERM)
        return 0

    try:
        results = in_parallel(terminate, *[lambda c=c: one(c) for c in clients])
    finally:
        for c in clients:
            c.close()
    return results[1:]


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_finishes_in_flight_requests(tmp_path: Path, workers: int) -> None:
    dep = init_deployment_fast(tmp_path / "data")
    with provider_of(dep) as p:
        accounts.add_user(p.sessions, "alice", GOOD_PASSWORD)
    server = start_server(dep, "--workers", str(workers), env={"IDGATE_HASH_WORKERS": "1",
                                                                "IDGATE_THROTTLE_IP_FREE": "1000",
                                                                "IDGATE_THROTTLE_ACCOUNT_FREE": "1000"})
    try:
        codes = _in_flight_then_sigterm(server, 12)
        assert codes == [200] * 12, codes
        # uvicorn re-raises the SIGTERM it handled once shutdown is complete (-15); the
        # --workers supervisor exits 0 after its workers have finished
        assert server.process.wait(timeout=20) in (0, -signal.SIGTERM), server.logs()[-3000:]
        with socket.socket() as s:  # closed: nothing listens any more
            assert s.connect_ex(("127.0.0.1", int(server.url.rsplit(":", 1)[1]))) != 0
    finally:
        if server.process.poll() is None:
            stop_server(server)
    logs = server.logs()
    assert "Traceback" not in logs and GOOD_PASSWORD not in logs


def test_idle_keep_alive_connections_do_not_hold_shutdown(tmp_path: Path) -> None:
    """An idle HTTPS keep-alive client never answers the server's close_notify; SIGTERM must not
    wait the 10 s grace period for it (nothing is in flight)."""
    import ssl

    dep = init_deployment_fast(tmp_path / "data")
    server = start_server(dep)
    try:
        with httpx.Client(base_url=server.url, verify=ssl.create_default_context(cafile=str(dep.ca))) as idle:
            assert idle.get("/healthz").status_code == 200  # the connection stays open, idle
            started = time.monotonic()
            os.kill(server.process.pid, signal.SIGTERM)
            server.process.wait(timeout=20)
            assert time.monotonic() - started < 3
    finally:
        if server.process.poll() is None:
            stop_server(server)


def test_workers_share_the_port_database_and_metrics(tmp_path: Path) -> None:
    dep = init_deployment_fast(tmp_path / "data")
    with provider_of(dep) as p:
        accounts.add_user(p.sessions, "alice", GOOD_PASSWORD)
    server = start_server(dep, "--workers", "2", env={"IDGATE_METRICS_TOKEN": METRICS_TOKEN})
    try:
        workers = _workers(server.process.pid)
        assert len(workers) == 2  # the supervisor and its two worker processes
        n = 40
        clients = [server.client() for _ in range(4)]
        try:
            tokens = [c.post("/login", json={"username": "alice", "password": GOOD_PASSWORD}) for c in clients]
            assert all(t.status_code == 200 for t in tokens)
            # a refresh token spent on one worker is spent on all of them
            first = tokens[0].json()["refresh_token"]
            spent = [c.post("/token", data={"grant_type": "refresh_token", "refresh_token": first}).status_code
                     for c in clients[:2]]
            assert sorted(spent) == [200, 400]
            for i in range(n):
                clients[i % 4].get("/jwks.json")
        finally:
            for c in clients:
                c.close()
        # every scrape, whichever worker answers it, counts the requests of all workers
        with server.client() as c:
            scrapes = [c.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}) for _ in range(2)]
        for scrape in scrapes:
            assert scrape.status_code == 200
            jwks = [line for line in scrape.text.splitlines()
                    if line.startswith("idgate_http_requests_total{") and 'route="/jwks.json"' in line]
            assert sum(float(line.rsplit(" ", 1)[1]) for line in jwks) == n, jwks
            # process_* describe the whole server (supervisor + workers), not the answering worker
            values = {line.split(" ")[0]: float(line.rsplit(" ", 1)[1]) for line in scrape.text.splitlines()
                      if line and not line.startswith("#")}
            assert values["idgate_processes"] >= 3
            one_worker = _rss_bytes(workers[0])
            assert values["process_resident_memory_bytes"] > 2 * one_worker * 0.9
            assert values["python_gc_collections_total{generation=\"0\"}"] > 0
            assert sum(1 for name in values if name.startswith("python_info{")) == 1
        # a worker that dies is replaced; the other one keeps serving meanwhile
        os.kill(workers[0], signal.SIGKILL)
        with server.client() as c:
            assert c.get("/healthz").status_code == 200
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (len(_workers(server.process.pid)) < 2
                                               or workers[0] in _workers(server.process.pid)):
            time.sleep(0.2)
        assert len(_workers(server.process.pid)) == 2 and workers[0] not in _workers(server.process.pid)
    finally:
        stop_server(server)
