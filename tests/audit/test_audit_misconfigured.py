"""The auditor against a provider that gets many things wrong on purpose (audit_targets.FLAWS):
each flaw must be reported by its own check id as FAIL, and nothing else may FAIL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from idgate.audit import AuditOptions, Verdict, audit
from idgate.cli import app

from audit_targets import CLIENT_ID, CLIENT_SECRET, FLAWS, Misconfigured, misconfigured

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Misconfigured]:
    with misconfigured(tmp_path_factory.mktemp("misconfigured")) as server:
        yield server


@pytest.fixture(scope="module")
def findings(target: Misconfigured) -> dict[str, tuple[Verdict, str]]:
    expired = target.provider.mint(lifetime=600, issued=time.time() - 3 * 86_400)
    other = target.provider.mint(lifetime=600, audience="https://other.example")
    options = AuditOptions(target.url, ca=target.pki.ca, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                           active=True, expired_token=expired, wrong_audience_token=other,
                           http_url=target.http_url, timeout=5)
    return {f.check_id: (f.verdict, f.evidence) for f in audit(options)}


def test_each_flaw_fails_under_its_own_check(findings: dict[str, tuple[Verdict, str]]) -> None:
    for check_id, flaw in FLAWS.items():
        verdict, evidence = findings[check_id]
        assert verdict is Verdict.FAIL, f"{check_id} ({flaw}) was {verdict}: {evidence}"


def test_nothing_else_fails(findings: dict[str, tuple[Verdict, str]]) -> None:
    unexpected = {cid: ev for cid, (v, ev) in findings.items() if v is Verdict.FAIL and cid not in FLAWS}
    assert not unexpected


def test_evidence_is_specific(findings: dict[str, tuple[Verdict, str]]) -> None:
    assert "TLS 1.0 accepted" in findings["tls.min-version"][1]
    assert "CBC" in findings["tls.cipher-suites"][1]
    assert "private member(s) d" in findings["jwks.no-private"][1]
    assert "ACCEPTED: alg none" in findings["probe.alg-none"][1]
    assert "Secure" in findings["browser.cookies"][1] and "HttpOnly" in findings["browser.cookies"][1]
    # personal data is a warning (suggest JWE), and its value never appears in the report
    assert findings["token.personal-data"][0] is Verdict.WARN
    assert "email" in findings["token.personal-data"][1]
    assert "bob@example.com" not in json.dumps(findings)


def test_what_is_done_right_passes(findings: dict[str, tuple[Verdict, str]]) -> None:
    for check_id in ("tls.certificate", "tls.forward-secrecy", "transport.hsts", "jwks.key-strength",
                     "probe.hs256-public-key", "probe.embedded-jwk", "probe.tampered-signature",
                     "probe.expired", "probe.wrong-audience", "browser.framing", "browser.csrf"):
        assert findings[check_id][0] is Verdict.PASS, (check_id, findings[check_id])
    assert all(findings[c][0] is Verdict.SKIP for c in findings if c.startswith("local."))


def test_untrusted_certificate_is_a_fail_with_its_reason(target: Misconfigured) -> None:
    result = {f.check_id: f for f in audit(AuditOptions(target.url, timeout=5))}
    assert result["tls.certificate"].verdict is Verdict.FAIL
    assert "--ca" in result["tls.certificate"].evidence
    # protocol probes still work: the handshake reached the certificate before stopping
    assert result["tls.min-version"].verdict is Verdict.FAIL
    # nothing is sent over a connection that could not be verified
    assert result["credentials.no-get"].verdict is Verdict.SKIP


def test_plain_http_target_is_a_clear_fail(target: Misconfigured, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["audit", target.http_url, "--format", "json"])
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    https = next(f for f in doc["findings"] if f["check_id"] == "transport.https")
    assert https["verdict"] == "fail" and "not an https://" in https["evidence"]


def test_cli_exit_status_and_formats(target: Misconfigured, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["audit", target.url, "--ca", str(target.pki.ca), "--timeout", "5"]
    text = runner.invoke(app, base)
    assert text.exit_code == 1
    assert "FAIL  tls.min-version" in text.stdout and "Why:" in text.stdout and "Fix:" in text.stdout
    assert " fail" in text.stdout.strip().splitlines()[-1]
    report = tmp_path / "report.html"
    html = runner.invoke(app, [*base, "--format", "html", "--output", str(report)])
    assert html.exit_code == 1
    page = report.read_text()
    assert page.startswith("<!doctype html>") and "tls.min-version" in page and "<script" not in page
