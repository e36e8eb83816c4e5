"""The check registry, the report formats and the local (--data) checks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from idgate.audit.checks.local import classify_hash
from idgate.audit.model import Finding, Outcome, Skip, Verdict, summary_line
from idgate.audit.registry import GROUPS, Check, run_one
from idgate.audit.runner import all_checks, run_all
from idgate.audit.report import render
from idgate.audit.target import AuditOptions, Target

from support import init_deployment

SAMPLE = [
    Finding("tls.min-version", Verdict.FAIL, "Old TLS refused", "TLS 1.0 accepted <b>", "why", "fix it", "transport"),
    Finding("token.personal-data", Verdict.WARN, "No personal data", "email", "why", "fix", "tokens"),
    Finding("jwks.no-private", Verdict.PASS, "Public only", "1 key", "why", "fix", "keys"),
    Finding("local.password-hash", Verdict.SKIP, "Hashes", "needs --data", "why", "fix", "local"),
]


def test_every_check_has_a_stable_id_an_explanation_and_a_fix() -> None:
    checks = all_checks()
    ids = [c.id for c in checks]
    assert len(ids) == len(set(ids)) >= 35
    for c in checks:
        assert re.fullmatch(r"[a-z0-9]+(?:[.-][a-z0-9]+)+", c.id)
        assert c.group in GROUPS
        assert len(c.explanation) > 80 and c.fix and c.title
    assert {"tls.min-version", "credentials.no-store", "jwks.no-private", "probe.alg-none", "browser.csp",
            "local.password-hash"} <= set(ids)


def test_a_crashing_check_is_a_fail_not_a_traceback_and_skip_keeps_its_reason() -> None:
    target = Target(AuditOptions("https://127.0.0.1:9"))

    def boom(_: Target) -> Outcome:
        raise RuntimeError("kaput")

    def missing(_: Target) -> Outcome:
        raise Skip("no token")

    crashed = run_one(Check("x.boom", "tokens", "t", "e", "f", boom), target)
    assert crashed.verdict is Verdict.FAIL and "kaput" in crashed.evidence
    assert run_one(Check("x.skip", "tokens", "t", "e", "f", missing), target).evidence == "no token"


def test_unreachable_target_fails_clearly() -> None:
    target = Target(AuditOptions("https://127.0.0.1:9", timeout=2))  # discard port: nothing listens
    try:
        findings = run_all(target, only=["transport.", "tls.", "credentials."])
    finally:
        target.close()
    verdicts = {f.check_id: f for f in findings}
    assert verdicts["transport.https"].verdict is Verdict.FAIL
    assert "Could not reach" in verdicts["transport.https"].evidence
    assert all(f.verdict is Verdict.SKIP for cid, f in verdicts.items() if cid not in ("transport.https",))


def test_summary_line_and_formats() -> None:
    assert summary_line(SAMPLE) == "1 pass, 1 warn, 1 fail, 1 skip"
    text = render(SAMPLE, "https://idp.example", "text", colour=False)
    assert "FAIL  tls.min-version" in text and "Why: why" in text and text.rstrip().endswith("1 check(s) failed.")
    doc = json.loads(render(SAMPLE, "https://idp.example", "json"))
    assert doc["schema"] == "idgate-audit/1" and doc["ok"] is False
    assert doc["summary"] == {"pass": 1, "warn": 1, "fail": 1, "skip": 1}
    assert set(doc["findings"][0]) == {"check_id", "group", "verdict", "title", "evidence", "explanation", "fix"}
    markdown = render(SAMPLE, "https://idp.example", "markdown")
    assert "| ❌ FAIL | `tls.min-version` |" in markdown and "## What to fix" in markdown
    html = render(SAMPLE, "https://idp.example", "html")
    assert "TLS 1.0 accepted &lt;b&gt;" in html and "accepted <b>" not in html
    assert "Not yet secure" in html and "<script" not in html


@pytest.mark.parametrize(("stored", "level"), [
    ("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA", "ok"),
    ("$argon2id$v=19$m=47104,t=1,p=1$c2FsdHNhbHQ$aGFzaA", "ok"),
    ("$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaA", "bad"),
    ("$argon2i$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaA", "weak"),
    ("$2b$12$abcdefghijklmnopqrstuu", "weak"),
    ("$2b$08$abcdefghijklmnopqrstuu", "bad"),
    ("5f4dcc3b5aa765d61d8327deb882cf99", "bad"),
])
def test_password_hash_classification(stored: str, level: str) -> None:
    assert classify_hash(stored)[0] == level


@pytest.mark.slow
def test_local_checks_find_loose_files_and_long_lifetimes(tmp_path: Path) -> None:
    deployment = init_deployment(tmp_path / "data")
    (deployment.data / "kek").chmod(0o644)
    config = deployment.data / "config.toml"
    config.write_text(config.read_text() + "\naccess_token_ttl = 7200\n")
    target = Target(AuditOptions("https://127.0.0.1:9", data=deployment.data))
    found = {f.check_id: f for f in run_all(target, only=["local."])}
    assert found["local.file-permissions"].verdict is Verdict.FAIL
    assert "kek 0644" in found["local.file-permissions"].evidence
    assert found["local.token-lifetime"].verdict is Verdict.WARN
    assert found["local.password-hash"].verdict is Verdict.PASS
    assert found["local.keys-encrypted"].verdict is Verdict.PASS
