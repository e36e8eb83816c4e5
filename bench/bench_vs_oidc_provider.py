"""Token endpoint, `grant_type=client_credentials` -> ES256 JWT access token, over HTTPS on
127.0.0.1: idgate (``--workers 1`` and ``2``) against node-oidc-provider, same load generator.

node-oidc-provider (npm ``oidc-provider``) is installed at run time into a temporary folder and
configured with the client-credentials grant, resource indicators (RFC 8707) and JWT access
tokens signed ES256 for the resource ``https://api.example``; it serves through node's ``https``
with the same certificate as idgate. The load generator is ``wrk`` (Debian package) with a Lua
script that POSTs the form body with HTTP Basic client authentication; every server gets the
same connections, threads and duration. Reported: requests/s, p50/p99 latency, errors (non-2xx
and socket errors), server CPU (all its processes, in cores) and peak RSS (sum of VmHWM).

Not a test: ``make bench`` runs it. ``--profile`` runs py-spy (if installed) against one idgate
worker during the load and prints the top functions.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support import IDGATE, free_port  # noqa: E402

RESOURCE = "https://api.example"
SCOPE = "things:read"
OIDC_PROVIDER_VERSION = "9"

NODE_SERVER = r"""
import fs from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';

const [port, certFile, keyFile, jwkFile, secret, resource, scope] = process.argv.slice(2);
const provider = new Provider(`https://localhost:${port}`, {
  clients: [{
    client_id: 'bench', client_secret: secret, grant_types: ['client_credentials'],
    response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [JSON.parse(fs.readFileSync(jwkFile, 'utf8'))] },
  cookies: { keys: [secret] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope, audience: resource, accessTokenTTL: 900, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});
https.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) }, provider.callback())
  .listen(Number(port), '127.0.0.1', () => console.log('ready'));
"""

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope={scope}&resource={resource}"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic {basic}"
"""


@dataclass
class Server:
    label: str
    proc: subprocess.Popen[bytes]
    url: str
    script: Path


@dataclass
class Result:
    label: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_cores: float
    peak_rss_mb: float

    def row(self) -> str:
        return (f"| {self.label} | {self.rps:,.0f} | {self.p50_ms:.1f} | {self.p99_ms:.1f} | {self.requests:,} | "
                f"{self.errors} | {self.cpu_cores:.2f} | {self.peak_rss_mb:.0f} |")


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return pids


def _cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def _peak_rss_mb(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            m = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{p}/status").read_text())
            total += int(m.group(1)) if m else 0
        except OSError:
            pass
    return total / 1024


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    assert m, text
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[m.group(2)]


def run_wrk(url: str, script: Path, seconds: int, connections: int, threads: int) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency",
                          "--timeout", "5s", "-s", str(script), url], capture_output=True, text=True, check=True).stdout
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(int(g) for g in sock.groups()) if sock else 0)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "p50": _ms(lat["50"]), "p99": _ms(lat["99"]), "requests": requests, "errors": errors}


def measure(label: str, pid: int, url: str, script: Path, args: argparse.Namespace) -> Result:
    # warm-up (connections, caches, JIT), then the measured run
    run_wrk(url, script, 2, args.connections, args.threads)
    pids = _tree(pid)
    cpu0, t0 = _cpu_seconds(pids), time.monotonic()
    stats = run_wrk(url, script, args.seconds, args.connections, args.threads)
    cpu = (_cpu_seconds(pids) - cpu0) / (time.monotonic() - t0)
    return Result(label, stats["rps"], stats["p50"], stats["p99"], int(stats["requests"]), int(stats["errors"]), cpu,
                  _peak_rss_mb(pids))


def check_token(url: str, ca: Path, secret: str) -> dict[str, object]:
    import jwt as pyjwt

    reply = httpx.post(url, data={"grant_type": "client_credentials", "scope": SCOPE, "resource": RESOURCE},
                       auth=("bench", secret), verify=ssl.create_default_context(cafile=str(ca)))
    assert reply.status_code == 200, reply.text
    token = reply.json()["access_token"]
    header = pyjwt.get_unverified_header(token)
    claims = pyjwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "ES256" and claims["aud"] == RESOURCE, (header, claims)
    return {"typ": header.get("typ"), "bytes": len(token)}


def wait_https(url: str, ca: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, verify=ssl.create_default_context(cafile=str(ca)), timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def idgate_setup(tmp: Path) -> tuple[Path, str]:
    from idgate.cli.init import initialise

    data = tmp / "idgate"
    initialise(data)
    env = {**os.environ, "IDGATE_AUDIENCES": RESOURCE}
    out = subprocess.run([IDGATE, "client", "add", "bench", "--data", str(data), "--grant", "client_credentials",
                          "--scope", SCOPE, "--audience", RESOURCE], env=env, capture_output=True, text=True,
                         check=True).stdout
    secret = re.search(r"client_secret.*: (\S+)", out).group(1)  # type: ignore[union-attr]
    return data, secret


@contextlib.contextmanager
def idgate_server(data: Path, secret: str, workers: int, args: argparse.Namespace,
                  script: Path) -> Iterator[Server]:
    port = free_port()
    env = {**os.environ, "IDGATE_AUDIENCES": RESOURCE, "IDGATE_ISSUER": f"https://localhost:{port}",
           "IDGATE_THROTTLE_TOKEN_FREE": "1000000"}
    log = open(data.parent / f"idgate-{workers}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([IDGATE, "serve", "--data", str(data), "--port", str(port), "--workers", str(workers)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"https://localhost:{port}"
    try:
        try:
            wait_https(base + "/healthz", data / "tls" / "ca.pem", proc)
        except RuntimeError:
            log.flush()
            print((data.parent / f"idgate-{workers}.log").read_text()[-3000:], file=sys.stderr)
            raise
        time.sleep(2 if workers > 1 else 0.2)  # every worker up
        info = check_token(base + "/token", data / "tls" / "ca.pem", secret)
        print(f"<!-- idgate --workers {workers}: access token typ={info['typ']} {info['bytes']} bytes -->")
        if args.profile and workers == 1:
            profile(proc.pid, base + "/token", script, args)
        yield Server(f"idgate --workers {workers}", proc, base + "/token", script)
    finally:
        stop(proc)
        log.close()


def profile(pid: int, url: str, script: Path, args: argparse.Namespace) -> None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("<!-- py-spy not installed: pip install py-spy -->")
        return
    out = Path(tempfile.mkdtemp()) / "profile.txt"
    load = subprocess.Popen(["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", "8s", "-s",
                             str(script), url], stdout=subprocess.DEVNULL)
    time.sleep(1)
    target = max(_tree(pid), key=lambda p: _cpu_seconds([p]))
    subprocess.run([spy, "record", "--pid", str(target), "--duration", "5", "--format", "raw", "--output",
                    str(out), "--nonblocking"], capture_output=True)
    load.wait()
    if out.exists():
        print("\n### py-spy: where one idgate worker spends its time (self samples, top 25)\n\n```")
        print(summarise_profile(out.read_text()))
        print("```\n")


def summarise_profile(raw: str) -> str:
    """Collapsed stacks -> inclusive share per function, top entries."""
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        for frame in set(stack.split(";")):
            inclusive[frame] = inclusive.get(frame, 0) + n
    top = sorted(inclusive.items(), key=lambda kv: -kv[1])[:40]
    return "\n".join(f"{100 * n / max(total, 1):5.1f}%  {frame[:150]}" for frame, n in top)


@contextlib.contextmanager
def node_server(tmp: Path, data: Path, script_for: Callable[[str], Path]) -> Iterator[Server | None]:
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        print("<!-- node/npm not found: node-oidc-provider skipped -->")
        yield None
        return
    folder = tmp / "node"
    folder.mkdir()
    (folder / "package.json").write_text(json.dumps({"name": "bench-oidc", "private": True, "type": "module"}))
    subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund", f"oidc-provider@{OIDC_PROVIDER_VERSION}"],
                   cwd=folder, check=True, capture_output=True)
    version = json.loads((folder / "node_modules" / "oidc-provider" / "package.json").read_text())["version"]
    (folder / "server.mjs").write_text(NODE_SERVER)
    from cryptography.hazmat.primitives.asymmetric import ec
    from joserfc.jwk import ECKey

    key = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
    jwk = key.as_dict(private=True)
    jwk.update({"kid": key.thumbprint(), "alg": "ES256", "use": "sig"})
    (folder / "jwk.json").write_text(json.dumps(jwk))
    os.chmod(folder / "jwk.json", 0o600)
    secret = secrets.token_urlsafe(32)
    port = free_port()
    log = open(folder / "node.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(["node", "server.mjs", str(port), str(data / "tls" / "cert.pem"),
                             str(data / "tls" / "key.pem"), "jwk.json", secret, RESOURCE, SCOPE],
                            cwd=folder, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "NODE_ENV": "production"})
    base = f"https://localhost:{port}"
    try:
        wait_https(base + "/.well-known/openid-configuration", data / "tls" / "ca.pem", proc)
        info = check_token(base + "/token", data / "tls" / "ca.pem", secret)
        print(f"<!-- node-oidc-provider {version}: access token typ={info['typ']} {info['bytes']} bytes -->")
        yield Server(f"node-oidc-provider {version}", proc, base + "/token", script_for(secret))
    finally:
        stop(proc)
        log.close()


def median_result(label: str, results: list[Result]) -> Result:
    """Each column's median over the rounds (requests summed), peak RSS the largest seen."""
    def mid(values: list[float]) -> float:
        return statistics.median(values)

    return Result(label, mid([r.rps for r in results]), mid([r.p50_ms for r in results]),
                  mid([r.p99_ms for r in results]), sum(r.requests for r in results),
                  sum(r.errors for r in results), mid([r.cpu_cores for r in results]),
                  max(r.peak_rss_mb for r in results))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (it shares the machine's cores)")
    parser.add_argument("--workers", default="1,2", help="idgate worker counts to measure")
    parser.add_argument("--rounds", type=int, default=5,
                        help="every server is measured once per round, in turn (medians reported): this "
                             "machine's speed drifts by a fifth within minutes, for node as for idgate")
    parser.add_argument("--profile", action="store_true", help="py-spy one idgate worker under load")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk not found: apt-get install -y wrk")
        return 1
    with tempfile.TemporaryDirectory() as tmp_name, contextlib.ExitStack() as servers:
        tmp = Path(tmp_name)

        def script_for(secret: str) -> Path:
            path = tmp / f"wrk-{secrets.token_hex(4)}.lua"
            basic = base64.b64encode(f"bench:{secret}".encode()).decode()
            path.write_text(WRK_SCRIPT.format(scope=SCOPE, resource=RESOURCE.replace(":", "%3A").replace("/", "%2F"),
                                              basic=basic))
            return path

        data, secret = idgate_setup(tmp)
        # All servers run for the whole benchmark (an idle one costs nothing) and are measured in
        # turn, each round in a rotated order, so a drift of the machine's speed hits them alike.
        ours = [servers.enter_context(idgate_server(data, secret, int(w), args, script_for(secret)))
                for w in args.workers.split(",")]
        node = servers.enter_context(node_server(tmp, data, script_for))
        lineup = ours + ([node] if node else [])
        rounds: dict[str, list[Result]] = {s.label: [] for s in lineup}
        for number in range(args.rounds):
            order = lineup[number % len(lineup):] + lineup[:number % len(lineup)]
            for server in order:
                rounds[server.label].append(measure(server.label, server.proc.pid, server.url, server.script, args))
        print(f"\nclient_credentials -> ES256 JWT over HTTPS, wrk -t{args.threads} -c{args.connections} "
              f"-d{args.seconds}s, {os.cpu_count()} cores shared by server and wrk; median of {args.rounds} "
              f"rounds (each server measured once per round, in turn)\n")
        print("| server | requests/s | p50 ms | p99 ms | requests | errors | server CPU (cores) | peak RSS MB |")
        print("|---|---|---|---|---|---|---|---|")
        medians = {label: median_result(label, results) for label, results in rounds.items()}
        for result in medians.values():
            print(result.row())
        if node:
            print()
            for n in range(args.rounds):
                cells = ", ".join(f"{label} {results[n].rps:,.0f}" for label, results in rounds.items())
                ratio = max(rounds[s.label][n].rps for s in ours) / rounds[node.label][n].rps
                print(f"round {n + 1} requests/s: {cells} (best idgate / node {ratio:.2f}x)  ")
            best = max((medians[s.label] for s in ours), key=lambda r: r.rps)
            one, theirs = medians[ours[0].label], medians[node.label]
            print(f"\nidgate/node requests/s (medians): {one.label} {one.rps / theirs.rps:.2f}x, {best.label} "
                  f"{best.rps / theirs.rps:.2f}x (target 1.5x); p99 {best.p99_ms:.1f} ms vs {theirs.p99_ms:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
