"""The auditor against a freshly started idgate (default settings, real HTTPS): every check
PASSes or SKIPs with a stated reason, including the forged-token probes and the --data checks."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from idgate.cli import app

from support import GOOD_PASSWORD, LiveServer

pytestmark = pytest.mark.slow

# What cannot be checked on a default idgate, and why (the reason must say so).
EXPECTED_SKIPS = {
    "transport.plain-http": "Nothing answers plain HTTP",  # idgate serves no plain-HTTP port
    "probe.expired": "--expired-token",  # needs a genuinely signed, expired token
    "probe.wrong-audience": "--wrong-audience-token",
}


def _token(server: LiveServer) -> str:
    server.deployment.cli("user", "add", "bob", "--password-stdin", "--permission", "things:read",
                          stdin=GOOD_PASSWORD + "\n")
    with server.client() as client:
        reply = client.post("/login", json={"username": "bob", "password": GOOD_PASSWORD})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


def test_fresh_idgate_passes_every_check(live_server: LiveServer) -> None:
    token = _token(live_server)
    result = CliRunner().invoke(app, [
        "audit", live_server.url, "--ca", str(live_server.deployment.ca), "--token", token, "--active",
        "--data", str(live_server.deployment.data), "--format", "json", "--timeout", "5",
        "--http-url", "http://127.0.0.1:9",
        "--login-page", f"{live_server.url}/account"])  # issue 4: /account -> the HTML sign-in form  # discard port: nothing listens there
    doc = json.loads(result.stdout)
    findings = {f["check_id"]: f for f in doc["findings"]}
    problems = {cid: f"{f['verdict']}: {f['evidence']}" for cid, f in findings.items()
                if f["verdict"] not in ("pass", "skip")}
    assert not problems
    assert result.exit_code == 0 and doc["ok"] is True
    skipped = {cid: f["evidence"] for cid, f in findings.items() if f["verdict"] == "skip"}
    assert set(skipped) == set(EXPECTED_SKIPS), skipped
    for cid, reason in EXPECTED_SKIPS.items():
        assert reason in skipped[cid]
    # the checks that matter most really ran
    for cid in ("tls.min-version", "tls.cipher-suites", "credentials.no-get", "jwks.no-private", "token.lifetime",
                "probe.alg-none", "probe.hs256-public-key", "probe.embedded-jwk", "local.password-hash",
                "local.file-permissions", "local.keys-encrypted"):
        assert findings[cid]["verdict"] == "pass", findings[cid]
    assert doc["schema"] == "idgate-audit/1" and doc["summary"]["fail"] == 0

    # the same genuine token, verified by `idgate inspect` with the live JWKS
    result = CliRunner().invoke(app, ["inspect", token, "--jwks", f"{live_server.url}/jwks.json",
                                      "--ca", str(live_server.deployment.ca), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["signature"]["verified"] is True
    assert doc["header"]["typ"] == "at+jwt"
    assert "in 14 minutes" in doc["times"]["exp"] or "in 15 minutes" in doc["times"]["exp"]
