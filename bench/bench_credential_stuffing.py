"""Credential stuffing against a real `idgate serve` (issue 5). Not a test: run by `make bench`.

An attacker replays a leaked list: thousands of (username, password) pairs over hundreds of
accounts (a fifth of them names that do not exist, a few pairs actually valid), from several
client addresses. The server runs as it would behind a TLS-terminating proxy on the same host
(`idgate serve --behind-proxy --insecure-http` on loopback; `--tls` serves HTTPS instead), so the
attacker's addresses arrive in X-Forwarded-For, with X-Forwarded-Proto: https, exactly as the
trusted proxy sends them. Client and server share this machine's cores.
Meanwhile a legitimate user, carol - whose account the attacker also targets - logs in every
half second from her own address, once with the known-device token from an earlier login and
once from a new device.

Reports: replies by status, password hashes the server computed (from its own security events:
one hash per login.success / login.failure), server CPU seconds and RSS, and carol's outcome.

    .venv/bin/python bench/bench_credential_stuffing.py [--attempts 5000] [--accounts 300]
        [--addresses 8] [--concurrency 32] [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support import GOOD_PASSWORD, init_deployment_fast, start_server, stop_server  # noqa: E402

CAROL_PASSWORD = "tea party at the march hare's 1865"
MAX_SECONDS = 300  # the attack stops by itself after this long, whatever is left


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def proc_mem_kib(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":", 1)[0]
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(line.split()[1])
    return out


def seed_accounts(data: Path, accounts: int) -> list[str]:
    """Hundreds of accounts, fast: a handful of argon2id hashes shared by the rows."""
    from idgate.config.loading import load_settings
    from idgate.passwords import hash_password
    from idgate.provider import Provider
    from idgate.services import accounts as account_service
    from idgate.store import users
    from idgate.store.db import transaction

    provider = Provider(load_settings(data))
    try:
        hashes = [hash_password(f"{GOOD_PASSWORD} #{i}") for i in range(4)]
        names = [f"member{i:04d}" for i in range(accounts)]
        with transaction(provider.sessions) as session:
            for i, name in enumerate(names):
                users.create_user(session, name, hashes[i % len(hashes)], permissions=["things:read"])
        account_service.add_user(provider.sessions, "carol", CAROL_PASSWORD, permissions=["things:read"])
    finally:
        provider.close()
    return names


def leaked_list(names: list[str], attempts: int, rng: random.Random) -> list[tuple[str, str]]:
    pairs = []
    for i in range(attempts):
        roll = rng.random()
        if roll < 0.2:
            pairs.append((f"ghost{rng.randrange(10_000)}", f"leaked-{rng.randrange(10**9)}"))
        elif roll < 0.25:
            pairs.append(("carol", f"carol-guess-{rng.randrange(10**9)}"))  # carol is targeted too
        elif roll < 0.26:
            k = rng.randrange(len(names))
            pairs.append((names[k], f"{GOOD_PASSWORD} #{k % 4}"))  # a pair that really works
        else:
            pairs.append((rng.choice(names), f"leaked-{rng.randrange(10**9)}"))
    return pairs


class RawConnection:
    """A keep-alive HTTP/1.1 connection with just enough protocol for POST /login: the attacker's
    side must cost little CPU, or on a shared 2-core machine it measures itself, not the server."""

    def __init__(self, url: str, ca: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 443
        self.tls = parts.scheme == "https"
        self.ca = ca
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        ssl_ctx = None
        if self.tls:
            import ssl

            ssl_ctx = ssl.create_default_context(cafile=self.ca)
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, ssl=ssl_ctx,
                                                                 server_hostname="localhost" if self.tls else None)

    async def post_json(self, path: str, body: dict, headers: dict[str, str]) -> int:
        if self.writer is None:
            await self._connect()
        assert self.reader is not None and self.writer is not None
        data = json.dumps(body).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n")
        self.writer.write(head.encode() + data)
        await self.writer.drain()
        status_line = await self.reader.readline()
        length, close = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and "close" in value.lower():
                close = True
        await self.reader.readexactly(length)
        if close:
            self.close()
        return int(status_line.split()[1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def attack(url: str, ca: str, pairs: list[tuple[str, str]], addresses: list[str], concurrency: int,
                 device_token: str) -> dict:
    statuses: Counter[str] = Counter()
    carol: Counter[str] = Counter()
    queue: asyncio.Queue[tuple[int, tuple[str, str]]] = asyncio.Queue()
    for item in enumerate(pairs):
        queue.put_nowait(item)
    deadline = time.monotonic() + MAX_SECONDS
    done = asyncio.Event()
    if True:  # one indentation level kept from the httpx version
        async def worker() -> None:
            conn = RawConnection(url, ca)
            while time.monotonic() < deadline:
                try:
                    i, (username, password) = queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                try:
                    status = await conn.post_json("/login", {"username": username, "password": password},
                                                  {"X-Forwarded-For": addresses[i % len(addresses)],
                                                   "X-Forwarded-Proto": "https"})
                    statuses[str(status)] += 1
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    statuses[type(exc).__name__] += 1
                    conn.close()
            conn.close()

        async def legitimate_user() -> None:
            async with httpx.AsyncClient(base_url=url, verify=ca if url.startswith("https") else True, timeout=60) as own:
                while not done.is_set():
                    for label, extra in (("known device", {"device_token": device_token}), ("new device", {})):
                        started = time.perf_counter()
                        reply = await own.post("/login", json={"username": "carol", "password": CAROL_PASSWORD, **extra},
                                               headers={"X-Forwarded-For": "198.51.100.77",
                                                        "X-Forwarded-Proto": "https"})
                        carol[f"{label}: {reply.status_code}"] += 1
                        carol[f"{label}: ms"] += int((time.perf_counter() - started) * 1000)
                    await asyncio.sleep(0.5)

        started = time.monotonic()
        cpu0 = time.process_time()
        legit = asyncio.create_task(legitimate_user())
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
        client_cpu = time.process_time() - cpu0
        done.set()
        await legit
    return {"statuses": statuses, "elapsed": elapsed, "carol": carol, "client_cpu": client_cpu}


def count_hashes(data: Path) -> dict[str, int]:
    from idgate.config.loading import load_settings
    from idgate.provider import Provider
    from idgate.events import queries as event_queries

    provider = Provider(load_settings(data))
    try:
        rows = event_queries.search(provider.sessions, kind="login.*", limit=1000)
        counts: Counter[str] = Counter()
        before = None
        while rows:
            for r in rows:
                reason = r.detail.get("reason", "")
                counts[f"{r.kind}:{reason}" if reason else r.kind] += 1
            before = rows[-1].id
            rows = event_queries.search(provider.sessions, kind="login.*", limit=1000, before_id=before)
        locked = event_queries.search(provider.sessions, kind="account.locked", limit=1000)
        counts["account.locked"] = len(locked)
        return dict(counts)
    finally:
        provider.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=5000)
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--addresses", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--tls", action="store_true", help="HTTPS end to end instead of a plain-HTTP hop behind the proxy")
    parser.add_argument("--redis", default="", help="Redis URL: run the server with the Redis throttle store")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    addresses = [f"203.0.113.{10 + i}" for i in range(args.addresses)]  # TEST-NET-3, only ever a header value
    with tempfile.TemporaryDirectory() as tmp:
        dep = init_deployment_fast(Path(tmp) / "data")
        names = seed_accounts(dep.data, args.accounts)
        pairs = leaked_list(names, args.attempts, rng)
        extra = ["--behind-proxy"] + ([] if args.tls else ["--insecure-http"]) + (["--redis", args.redis] if args.redis else [])
        server = start_server(dep, *extra, scheme="https" if args.tls else "http")
        try:
            pid = server.process.pid
            with server.client() as c:  # carol's earlier, normal login: her device token
                first = c.post("/login", json={"username": "carol", "password": CAROL_PASSWORD},
                               headers={"X-Forwarded-For": "198.51.100.77", "X-Forwarded-Proto": "https"})
                device_token = first.json()["device_token"]
            time.sleep(0.5)
            mem_before, cpu_before = proc_mem_kib(pid), proc_cpu_seconds(pid)
            result = asyncio.run(attack(server.url, str(dep.ca), pairs, addresses, args.concurrency, device_token))
            cpu = proc_cpu_seconds(pid) - cpu_before
            mem_after = proc_mem_kib(pid)
        finally:
            stop_server(server)
        events = count_hashes(dep.data)
    statuses = result["statuses"]
    answered = sum(v for k, v in statuses.items() if k.isdigit())
    hashes = sum(v for k, v in events.items() if k.startswith(("login.failure:bad_password", "login.failure:unknown_user",
                                                               "login.failure:disabled", "login.success")))
    carol = result["carol"]
    carol_logins = sum(v for k, v in carol.items() if not k.endswith("ms")) + 1
    store = ("Redis" if args.redis else "in-process") + (", HTTPS" if args.tls else ", plain HTTP behind the proxy")
    print(f"{len(pairs)} attempts over {args.accounts} accounts (+ unknown names) from {len(addresses)} addresses, "
          f"{args.concurrency} concurrent, throttle store {store}, {os.cpu_count()} cores")
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| attack duration | {result['elapsed']:.1f} s ({answered / result['elapsed']:.0f} replies/s) |")
    print(f"| attempts answered | {answered} of {len(pairs)} ({', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))}) |")
    attacker_hashes = hashes - carol_logins
    print(f"| password hashes computed for the attacker (events) | {attacker_hashes} "
          f"({100 * attacker_hashes / max(1, len(pairs)):.1f}% of attempts; {hashes} with carol's {carol_logins}) |")
    print(f"| events by kind | {json.dumps(events, sort_keys=True)} |")
    print(f"| server CPU during the attack | {cpu:.1f} s ({100 * cpu / result['elapsed']:.0f}% of one core); "
          f"attacking client {result['client_cpu']:.1f} s |")
    print(f"| server RSS before / after / peak | {mem_before.get('VmRSS', 0) / 1024:.0f} / "
          f"{mem_after.get('VmRSS', 0) / 1024:.0f} / {mem_after.get('VmHWM', 0) / 1024:.0f} MiB |")
    for label in ("known device", "new device"):
        ok = carol.get(f"{label}: 200", 0)
        total = sum(v for k, v in carol.items() if k.startswith(label) and not k.endswith("ms"))
        ms = carol.get(f"{label}: ms", 0) / max(1, total)
        others = {k.split(": ")[1]: v for k, v in carol.items() if k.startswith(label) and not k.endswith(("ms", "200"))}
        print(f"| carol (targeted) from a {label} during the attack | {ok}/{total} logins OK, mean {ms:.0f} ms"
              f"{', refused ' + json.dumps(others) if others else ''} |")


if __name__ == "__main__":
    main()
