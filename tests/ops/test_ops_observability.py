"""Structured logs (request id on every line, never a secret) and Prometheus metrics behind a token."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from idgate.config.loading import load_settings
from idgate.ops import logs
from idgate.provider import Provider
from idgate.server.app import create_app
from idgate.services import accounts

from support import GOOD_PASSWORD, init_deployment_fast

METRICS_TOKEN = "t0k-" + "a" * 40


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[Provider]:
    dep = init_deployment_fast(tmp_path / "data")
    p = Provider(load_settings(dep.data, {"metrics_token": METRICS_TOKEN, "throttle_account_free": 2}))
    accounts.add_user(p.sessions, "alice", GOOD_PASSWORD, permissions=["things:read"])
    yield p
    p.close()


@pytest.fixture
def client(provider: Provider) -> Iterator[TestClient]:
    with TestClient(create_app(provider), base_url="https://localhost:8443") as c:
        yield c


@pytest.fixture
def log_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    # configure() switches off caller/thread/process collection process-wide; give it back.
    for attr in ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, attr, getattr(logging, attr))
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level, logging.getLogger(n).propagate,
                 logging.getLogger(n).disabled) for n in ("idgate", "uvicorn", "uvicorn.error", "uvicorn.access")}
    logs.configure("json", stream=stream)
    yield stream
    for name, (handlers, level, propagate, disabled) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:], logger.level, logger.propagate, logger.disabled = handlers, level, propagate, disabled


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        series, value = line.rsplit(" ", 1)
        if all(f'{k}="{v}"' in series for k, v in labels.items()):
            total += float(value)
    return total


def test_every_log_line_of_a_request_carries_its_request_id(client: TestClient, log_lines: io.StringIO) -> None:
    bad = client.post("/login", json={"username": "alice", "password": "wrong password, long enough"},
                      headers={"X-Request-ID": "req-abc.123"})
    assert bad.status_code == 401 and bad.headers["x-request-id"] == "req-abc.123"
    ok = client.post("/login", json={"username": "alice", "password": GOOD_PASSWORD},
                     headers={"X-Request-ID": "req-def"})
    assert ok.status_code == 200
    spoofed = client.get("/healthz", headers={"X-Request-ID": 'evil"\n{"x":1}'})
    assert spoofed.headers["x-request-id"] != 'evil"\n{"x":1}'  # malformed ids are replaced

    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    by_logger = {(line["logger"], line["request_id"]) for line in lines}
    # access log, error log and security events of the failed login all carry its id
    assert {("idgate.access", "req-abc.123"), ("idgate.errors", "req-abc.123"),
            ("idgate.events", "req-abc.123")} <= by_logger
    assert ("idgate.events", "req-def") in by_logger
    assert all(line.get("request_id") for line in lines)
    assert all({"ts", "level", "logger"} <= set(line) for line in lines)
    text = log_lines.getvalue()
    assert GOOD_PASSWORD not in text and "wrong password" not in text
    assert ok.json()["access_token"] not in text and ok.json()["refresh_token"] not in text


def test_lines_outside_a_request_have_no_request_id_and_text_format_is_readable() -> None:
    record = logging.LogRecord("idgate.events", logging.INFO, __file__, 1,
                               '{"event": "key.rotated", "outcome": "success", "detail": {"kid": "k1"}}', (), None)
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["event"] == "key.rotated" and "request_id" not in line
    token = logs.request_id_var.set("rid-1")
    try:
        human = logs.HumanFormatter().format(record)
        plain = logs.JsonFormatter().format(logging.LogRecord("idgate.x", logging.ERROR, __file__, 1,
                                                              "plain %s", ("text",), None))
    finally:
        logs.request_id_var.reset(token)
    assert "key.rotated" in human and "[rid-1]" in human and "kid" in human and not human.startswith("{")
    assert json.loads(plain) | {} == json.loads(plain) and json.loads(plain)["msg"] == "plain text"
    assert json.loads(plain)["request_id"] == "rid-1"


def test_metrics_need_the_bearer_token(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer " + "b" * 44})
    assert wrong.status_code == 401 and "Bearer" in wrong.headers["www-authenticate"]
    assert client.get("/metrics", headers={"Authorization": "Basic " + METRICS_TOKEN}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer " + METRICS_TOKEN})
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain")
    assert ok.headers["cache-control"] == "no-store" and "strict-transport-security" in ok.headers
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_metrics_carry_the_process_and_python_runtime_series(client: TestClient) -> None:
    """Issue 16: Prometheus' standard process_* and python_* series, beside idgate's own."""
    text = client.get("/metrics", headers={"Authorization": "Bearer " + METRICS_TOKEN}).text
    values = {line.split(" ")[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line and not line.startswith("#")}
    assert values["process_resident_memory_bytes"] > 10_000_000
    assert values["process_cpu_seconds_total"] > 0 and values["process_open_fds"] > 0
    assert any(name.startswith("python_info{") for name in values)
    assert 'python_gc_collections_total{generation="0"}' in values


def test_metrics_are_off_without_a_token(tmp_path: Path) -> None:
    dep = init_deployment_fast(tmp_path / "data")
    p = Provider(load_settings(dep.data))
    try:
        with TestClient(create_app(p), base_url="https://localhost:8443") as c:
            assert c.get("/metrics").status_code == 404
            assert c.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404
    finally:
        p.close()


def test_metrics_count_requests_logins_tokens_and_throttles(client: TestClient) -> None:
    auth = {"Authorization": "Bearer " + METRICS_TOKEN}
    good = client.post("/login", json={"username": "alice", "password": GOOD_PASSWORD}).json()
    for _ in range(3):
        client.post("/login", json={"username": "alice", "password": "not the password at all"})
    throttled = client.post("/login", json={"username": "alice", "password": "not the password at all"})
    assert throttled.status_code == 429
    refreshed = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": good["refresh_token"]})
    assert refreshed.status_code == 200
    client.post("/revoke", data={"token": refreshed.json()["refresh_token"]})
    client.get("/no/such/path/12345")
    client.get("/userinfo", headers={"Authorization": "Bearer " + good["access_token"]})

    text = client.get("/metrics", headers=auth).text
    assert _metric(text, "idgate_logins_total", outcome="success") == 1
    assert _metric(text, "idgate_logins_total", outcome="failure") >= 2
    assert _metric(text, "idgate_logins_total", outcome="throttled") >= 1
    assert _metric(text, "idgate_throttled_requests_total", endpoint="login") >= 1
    assert _metric(text, "idgate_tokens_issued_total", grant="password") == 1
    assert _metric(text, "idgate_tokens_refreshed_total") == 1
    assert _metric(text, "idgate_tokens_revoked_total", type="refresh_token") == 1
    assert _metric(text, "idgate_http_requests_total", route="/login", method="POST", status="200") == 1
    assert _metric(text, "idgate_http_requests_total", route="/login", method="POST", status="429") >= 1
    assert _metric(text, "idgate_http_requests_total", route="/token", method="POST", status="200") == 1
    assert _metric(text, "idgate_http_requests_total", route="other", status="404") == 1
    assert "/no/such/path" not in text  # raw paths never become labels
    assert _metric(text, "idgate_http_request_duration_seconds_count", route="/login") >= 5
    assert "idgate_hash_queue_depth 0.0" in text
    assert _metric(text, "idgate_verifier_jwks_lookups_total", result="hit") >= 1  # the /userinfo check
    assert good["access_token"] not in text and good["refresh_token"] not in text
