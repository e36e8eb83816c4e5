"""Refresh-grant throughput over real HTTPS, on SQLite and (when configured) PostgreSQL.

Each worker logs in once, then spends its refresh token and uses the next one, as a real client
does; every request rotates a token in the database. Not a test: run by `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import ssl
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support import GOOD_PASSWORD, init_deployment, start_server, stop_server  # noqa: E402


async def refresh_loop(url: str, ca: str, seconds: float, concurrency: int) -> tuple[int, int, list[float]]:
    ctx = ssl.create_default_context(cafile=ca)
    ok = errors = 0
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=url, verify=ctx, timeout=30,
                                 limits=httpx.Limits(max_connections=concurrency)) as client:
        tokens = []
        for _ in range(concurrency):
            reply = await client.post("/login", json={"username": "bench", "password": GOOD_PASSWORD})
            tokens.append(reply.json()["refresh_token"])
        deadline = time.monotonic() + seconds

        async def worker(i: int) -> None:
            nonlocal ok, errors
            token = tokens[i]
            while time.monotonic() < deadline:
                started = time.perf_counter()
                reply = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": token})
                latencies.append(time.perf_counter() - started)
                if reply.status_code == 200:
                    ok += 1
                    token = reply.json()["refresh_token"]
                else:
                    errors += 1
                    return

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return ok, errors, latencies


def run_one(label: str, database_url: str, seconds: float, concurrency: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        dep = init_deployment(Path(tmp) / "data", database_url)
        dep.cli("user", "add", "bench", "--password-stdin", "--permission", "things:read", stdin=GOOD_PASSWORD + "\n")
        server = start_server(dep)
        try:
            started = time.monotonic()
            ok, errors, lat = asyncio.run(refresh_loop(server.url, str(dep.ca), seconds, concurrency))
            elapsed = time.monotonic() - started
        finally:
            stop_server(server)
    lat.sort()
    p50, p99 = 1000 * lat[len(lat) // 2], 1000 * lat[int(len(lat) * 0.99) - 1]
    return f"| refresh grant, {label} | {ok / elapsed:.0f} | {p50:.1f} | {p99:.1f} | {errors} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    rows = [run_one("SQLite (WAL)", "", args.seconds, args.concurrency)]
    pg = os.environ.get("IDGATE_TEST_DATABASE_URL")
    if pg:
        import psycopg

        name = "idgate_bench_" + secrets.token_hex(4)
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            rows.append(run_one("PostgreSQL", pg.rsplit("/", 1)[0] + "/" + name, args.seconds, args.concurrency))
        finally:
            with psycopg.connect(pg, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"| measure ({args.concurrency} concurrent clients, {args.seconds:.0f} s) | requests/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
