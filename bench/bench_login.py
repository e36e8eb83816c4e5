"""`/login` under a concurrent login storm on this machine, and JWKS latency during the storm.

Reports: login requests/s against the ceiling (cores / one argon2id verify), JWKS p50/p99 while
the storm runs, and the idle server's RSS after start-up. Not a test: run by `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support import GOOD_PASSWORD, init_deployment, start_server, stop_server  # noqa: E402


def argon2_verify_seconds(samples: int = 9) -> float:
    from idgate.passwords import hash_password, verify_password

    stored = hash_password(GOOD_PASSWORD)
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        verify_password(stored, GOOD_PASSWORD)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def storm(url: str, ca: str, users: list[str], seconds: float, concurrency: int) -> dict[str, float]:
    counts = {"ok": 0, "throttled": 0, "other": 0}
    jwks_latencies: list[float] = []
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency + 2)

    ctx = ssl.create_default_context(cafile=ca)
    async with httpx.AsyncClient(base_url=url, verify=ctx, timeout=30, limits=limits) as client:
        async def worker(n: int) -> None:
            i = n
            while time.monotonic() < deadline:
                reply = await client.post("/login", json={"username": users[i % len(users)], "password": GOOD_PASSWORD})
                i += concurrency
                key = "ok" if reply.status_code == 200 else "throttled" if reply.status_code == 429 else "other"
                counts[key] += 1

        async def jwks_poller() -> None:
            async with httpx.AsyncClient(base_url=url, verify=ctx, timeout=30) as c2:
                while time.monotonic() < deadline:
                    started = time.perf_counter()
                    reply = await c2.get("/jwks.json")
                    assert reply.status_code == 200
                    jwks_latencies.append(time.perf_counter() - started)
                    await asyncio.sleep(0.01)

        started = time.monotonic()
        await asyncio.gather(jwks_poller(), *(worker(n) for n in range(concurrency)))
        elapsed = time.monotonic() - started
    jwks_latencies.sort()
    return {
        "login_rps": counts["ok"] / elapsed,
        "ok": counts["ok"], "throttled": counts["throttled"], "other": counts["other"],
        "jwks_all": jwks_latencies,
    }


LOGIN_LUA = """
local users, i = {users}, 0
request = function()
  i = i + 1
  local body = string.format('{{"username":"user%d","password":"{password}"}}', i % users)
  return wrk.format("POST", "/login", {{["Content-Type"] = "application/json"}}, body)
end
"""


def jwks_poll(url: str, ca: str, seconds: float, interval: float = 0.05) -> list[float]:
    """GET /jwks.json every ``interval`` seconds on one kept-alive TLS connection; the latency of each.

    A plain blocking client on a socket: httpx's async client spent a fifth of a core on these
    100 requests a second, taken from the cores whose ceiling the storm is measured against."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 443
    ctx = ssl.create_default_context(cafile=ca)
    request = f"GET /jwks.json HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: application/json\r\n\r\n".encode()
    latencies: list[float] = []
    with socket.create_connection((host, port), timeout=30) as raw, \
            ctx.wrap_socket(raw, server_hostname=host) as conn:
        reader = conn.makefile("rb")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            conn.sendall(request)
            status = reader.readline()
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            reader.read(length)
            latencies.append(time.perf_counter() - started)
            assert status.split()[1] == b"200", status
            time.sleep(interval)
    return sorted(latencies)


def wrk_storm(url: str, ca: str, users: int, seconds: float, concurrency: int,
              jwks_interval: float = 0.05) -> dict[str, float]:
    """The storm from wrk (C, a few microseconds of CPU per request), so the load generator
    does not take the cores the ceiling counts on; JWKS is polled from Python meanwhile."""
    import re
    import shutil

    script = Path(tempfile.mkdtemp()) / "login.lua"
    script.write_text(LOGIN_LUA.format(users=users, password=GOOD_PASSWORD))
    wrk = subprocess.Popen([shutil.which("wrk") or "wrk", "-t1", f"-c{concurrency}", f"-d{int(seconds)}s",
                            "--timeout", "10s", "-s", str(script), url + "/login"], stdout=subprocess.PIPE, text=True)
    latencies = jwks_poll(url, ca, seconds, jwks_interval)
    out = wrk.communicate()[0]
    total = int(re.search(r"(\d+) requests in ([\d.]+)s", out).group(1))  # type: ignore[union-attr]
    elapsed = float(re.search(r"requests in ([\d.]+)s", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = int(non2xx.group(1)) if non2xx else 0
    return {"login_rps": (total - failed) / elapsed, "ok": total - failed, "throttled": failed, "other": 0,
            "jwks_all": latencies}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5, help="odd, so one round is the median")
    # 20 probes a second: p99 from ~500 samples. At 100 a second (this benchmark's first setting)
    # the probe was a second load twice the size of the storm - each paced JWKS request costs
    # the event loop ~1 ms here - and took ~10% of the logins (README, Benchmarks).
    parser.add_argument("--jwks-interval", type=float, default=0.05, help="seconds between JWKS probes")
    parser.add_argument("--client", choices=("wrk", "httpx"), default="wrk",
                        help="load generator for the storm (httpx: Python, costs the server's cores)")
    args = parser.parse_args()
    import shutil

    if args.client == "wrk" and not shutil.which("wrk"):
        print("<!-- wrk not found: the storm runs from httpx (apt-get install wrk) -->")
        args.client = "httpx"
    cores = os.cpu_count() or 1
    # This shared machine's speed drifts by a third within seconds (a hash alone took 36 ms, then
    # 55 ms, on an idle machine). So the storm runs in rounds, one hash is timed just before and
    # just after each, and each round is judged against its own ceiling; the median round is
    # the result (all rounds are printed).
    rounds: list[dict[str, float]] = []
    jwks: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        dep = init_deployment(Path(tmp) / "data")
        users = [f"user{i}" for i in range(args.users)]
        for name in users:
            dep.cli("user", "add", name, "--password-stdin", "--permission", "things:read", stdin=GOOD_PASSWORD + "\n")
        server = start_server(dep)
        try:
            time.sleep(1.0)
            idle_rss = rss_kib(server.process.pid)
            for _ in range(args.rounds):
                before = argon2_verify_seconds(9)
                if args.client == "wrk":
                    result = wrk_storm(server.url, str(dep.ca), len(users), args.seconds / args.rounds,
                                       args.concurrency, args.jwks_interval)
                else:
                    result = asyncio.run(storm(server.url, str(dep.ca), users, args.seconds / args.rounds,
                                               args.concurrency))
                time.sleep(1.0)  # the logins still in flight when wrk stops would slow this timing
                after = argon2_verify_seconds(9)
                ceiling = cores / ((before + after) / 2)
                jwks.extend(result.pop("jwks_all"))
                rounds.append({**result, "verify_before": before, "verify_after": after, "ceiling": ceiling,
                               "ratio": result["login_rps"] / ceiling})
            peak_rss = rss_kib(server.process.pid)
        finally:
            stop_server(server)
    jwks.sort()
    median = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
    for n, r in enumerate(rounds, 1):
        print(f"round {n}: argon2id verify {r['verify_before'] * 1000:.1f} ms before, {r['verify_after'] * 1000:.1f} ms "
              f"after -> ceiling {r['ceiling']:.1f} logins/s on {cores} cores; {r['login_rps']:.1f} logins/s = "
              f"{100 * r['ratio']:.0f}%")
    each = ", ".join(f"{100 * r['ratio']:.0f}%" for r in rounds)
    print()
    print("| measure | value | target |")
    print("|---|---|---|")
    print(f"| /login successful requests/s ({args.concurrency} concurrent from {args.client}, {args.rounds} rounds of "
          f"{args.seconds / args.rounds:.0f} s), median round | {median['login_rps']:.1f} "
          f"({100 * median['ratio']:.0f}% of ceiling {median['ceiling']:.1f}; rounds "
          f"{each}) | >= 80% of ceiling |")
    result = {"ok": sum(r["ok"] for r in rounds), "throttled": sum(r["throttled"] for r in rounds),
              "other": sum(r["other"] for r in rounds),
              "jwks_p50_ms": 1000 * jwks[len(jwks) // 2], "jwks_p99_ms": 1000 * jwks[int(len(jwks) * 0.99) - 1],
              "jwks_samples": len(jwks)}
    print(f"| /login replies: 200 / not 200 (429 when the hash queue is full) / other | {result['ok']} / "
          f"{result['throttled']} / {result['other']} | |")
    print(f"| GET /jwks.json p50 / p99 during the storm | {result['jwks_p50_ms']:.1f} ms / {result['jwks_p99_ms']:.1f} ms "
          f"({result['jwks_samples']} samples) | p99 < 50 ms |")
    print(f"| server RSS idle after start-up / after storm | {idle_rss / 1024:.1f} MiB / {peak_rss / 1024:.1f} MiB | |")


if __name__ == "__main__":
    main()
