"""Benchmark: the token endpoint (client_credentials -> ES256 JWT over HTTPS) with and without DPoP.

    .venv/bin/python bench/bench_dpop_token.py [--workers 1] [--rounds 3] [--seconds 8] [--connections 32]

One idgate server; wrk drives it alternately with plain client_credentials requests and with
requests carrying a DPoP proof (RFC 9449 §5, with the server nonce that is on by default). Every
proof is fresh (a replayed one is refused), so the proofs are signed before each run and wrk
sends each once. Reports requests/s and p99 per round, and the DPoP/bearer ratio.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_vs_oidc_provider import RESOURCE, SCOPE, _ms, idgate_server, idgate_setup, run_wrk  # noqa: E402

from idgate.jose.dpop_key import DpopKey  # noqa: E402

DPOP_LUA = """
local proofs, i = {}, 0
function init(args)
  for line in io.lines(args[1]) do proofs[#proofs + 1] = line end
end
function request()
  i = i + 1
  local headers = {["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = "Basic %(basic)s",
                   ["DPoP"] = proofs[i]}
  return wrk.format("POST", nil, headers, "grant_type=client_credentials&scope=%(scope)s&resource=%(resource)s")
end
"""
BEARER_LUA = """
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=%(scope)s&resource=%(resource)s"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic %(basic)s"
"""


def _nonce(url: str, ca: Path, secret: str, key: DpopKey) -> str:
    reply = httpx.post(url, data={"grant_type": "client_credentials", "scope": SCOPE, "resource": RESOURCE},
                       auth=("bench", secret), headers={"DPoP": key.proof("POST", url)},
                       verify=ssl.create_default_context(cafile=str(ca)))
    assert reply.json().get("error") == "use_dpop_nonce", reply.text
    return reply.headers["dpop-nonce"]


def _dpop_run(url: str, script: Path, proofs: Path, key: DpopKey, nonce: str, count: int,
              args: argparse.Namespace) -> dict[str, float]:
    proofs.write_text("\n".join(key.proof("POST", url, nonce=nonce) for _ in range(count)) + "\n")
    out = subprocess.run(["wrk", "-t", "1", "-c", str(args.connections), "-d", f"{args.seconds}s", "--latency",
                          "--timeout", "5s", "-s", str(script), url, "--", str(proofs)],
                         capture_output=True, text=True, check=True).stdout
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "p99": _ms(lat["99"]), "errors": int(non2xx.group(1)) if non2xx else 0}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        data, secret = idgate_setup(tmp)
        basic = base64.b64encode(f"bench:{secret}".encode()).decode()
        values = {"basic": basic, "scope": SCOPE, "resource": RESOURCE}
        bearer_lua, dpop_lua = tmp / "bearer.lua", tmp / "dpop.lua"
        bearer_lua.write_text(BEARER_LUA % values)
        dpop_lua.write_text(DPOP_LUA % values)
        key = DpopKey.generate("ES256")
        rows: list[tuple[dict[str, float], dict[str, float]]] = []
        with idgate_server(data, secret, args.workers, args, bearer_lua) as server:
            ca = data / "tls" / "ca.pem"
            nonce = _nonce(server.url, ca, secret, key)
            run_wrk(server.url, bearer_lua, 2, args.connections, 1)  # warm-up
            for _ in range(args.rounds):
                bearer = run_wrk(server.url, bearer_lua, args.seconds, args.connections, 1)
                # Enough proofs for the run (the bearer rate is the ceiling), none sent twice.
                count = int(bearer["rps"] * args.seconds * 1.3) + 1000
                dpop = _dpop_run(server.url, dpop_lua, tmp / "proofs.txt", key, nonce, count, args)
                rows.append((bearer, dpop))
    print(f"\nclient_credentials over HTTPS, idgate --workers {args.workers}, wrk -t1 -c{args.connections} "
          f"-d{args.seconds}s, {os.cpu_count()} cores shared by server and wrk\n")
    print("| round | Bearer req/s | Bearer p99 ms | DPoP req/s | DPoP p99 ms | DPoP errors | DPoP/Bearer |")
    print("|---|---|---|---|---|---|---|")
    for n, (bearer, dpop) in enumerate(rows, 1):
        print(f"| {n} | {bearer['rps']:,.0f} | {bearer['p99']:.1f} | {dpop['rps']:,.0f} | {dpop['p99']:.1f} | "
              f"{dpop['errors']:.0f} | {dpop['rps'] / bearer['rps']:.2f} |")
    ratios = [d["rps"] / b["rps"] for b, d in rows]
    print(f"\nDPoP/Bearer: median {statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})")
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"<!-- {time.monotonic() - started:.0f} s -->")
    sys.exit(code)
