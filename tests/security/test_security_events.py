"""The audit trail (issue 5): security events in the append-only table and as JSON log lines,
with time, actor, client, IP and request id - and never a secret. One test drives every flow
and then scans the whole log and the whole table for every password, token, code and secret
it used."""

from __future__ import annotations

import json
import logging
import time

import pyotp
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from idgate import events
from idgate.events import queries as event_queries
from idgate.services import keys
from idgate.store.db import transaction

from security_support import Env, admin_token
from support import GOOD_PASSWORD, login

WRONG = "wrong password that is long"
NEW_PASSWORD = "a brand new passphrase for bob 77"


def test_flows_leave_events_and_no_secrets(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secrets_used: list[str] = [GOOD_PASSWORD, WRONG, NEW_PASSWORD, env.deployment.admin_password,
                               env.provider.kek.hex()]
    with env.client() as c:
        ok = login(c).json()
        secrets_used += [ok["access_token"], ok["refresh_token"], ok["device_token"]]
        login(c, password=WRONG)
        login(c, username="mallory", password="mallory's password guess")
        secrets_used.append("mallory's password guess")
        for _ in range(8):
            login(c, password=WRONG)  # into back-off
        env.clock.advance(10_000)
        ok2 = c.post("/login", json={"username": "alice", "password": GOOD_PASSWORD, "device_token": ok["device_token"]})
        secrets_used += [ok2.json()["access_token"], ok2.json()["refresh_token"], ok2.json()["device_token"]]
        refreshed = c.post("/token", data={"grant_type": "refresh_token", "refresh_token": ok["refresh_token"]}).json()
        secrets_used += [refreshed["access_token"], refreshed["refresh_token"]]
        reuse = c.post("/token", data={"grant_type": "refresh_token", "refresh_token": ok["refresh_token"]})
        assert reuse.status_code == 400
        c.post("/token", data={"grant_type": "refresh_token", "refresh_token": "igr_not-a-real-token-at-all"})
        c.post("/revoke", data={"token": ok2.json()["refresh_token"]})
        c.post("/revoke", data={"token": ok2.json()["access_token"], "token_type_hint": "access_token"})
        ok3 = login(c).json()
        secrets_used += [ok3["access_token"], ok3["refresh_token"]]
        c.post("/logout", json={"refresh_token": ok3["refresh_token"]},
               headers={"Authorization": f"Bearer {ok3['access_token']}"})

        # MFA: enrol over the API, log in with a code and with a recovery code.
        token = login(c).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        secret = c.post("/mfa/totp", headers=auth).json()["secret"]
        first_code = pyotp.TOTP(secret).now()
        codes = c.post("/mfa/totp/confirm", headers=auth, json={"otp": first_code}).json()["recovery_codes"]
        secrets_used += [token, secret, *codes]
        login(c)  # mfa_required
        login(c, otp="000000" if first_code != "000000" else "111111")
        mfa_login = login(c, otp=codes[0]).json()
        secrets_used += [mfa_login["access_token"], mfa_login["refresh_token"]]

        # Admin actions.
        admin = admin_token(c, env.deployment)
        secrets_used.append(admin)
        h = {"Authorization": f"Bearer {admin}"}
        assert c.post("/admin/users", headers=h, json={"username": "bob", "password": GOOD_PASSWORD + "!",
                                                        "roles": ["reader"]}).status_code == 201
        secrets_used.append(GOOD_PASSWORD + "!")
        assert c.post("/admin/users/bob/password", headers=h, json={"password": NEW_PASSWORD}).status_code == 204
        assert c.post("/admin/users/alice/unlock", headers=h).status_code == 200
        assert c.patch("/admin/users/bob", headers=h, json={"disabled": True, "name": "Bob Builder"}).status_code == 200
        assert c.delete("/admin/users/bob", headers=h).status_code == 204
        keys.rotate(env.provider.sessions, env.provider.settings, env.provider.kek, actor="test")

    rows = event_queries.search(env.provider.sessions, limit=1000)
    kinds = {r.kind for r in rows}
    expected = {"login.success", "login.failure", "login.throttled", "login.mfa_required", "token.issued",
                "token.refreshed", "token.refresh_reuse", "token.refresh", "token.revoked", "session.ended",
                "mfa.totp.enrolled", "mfa.totp.confirmed", "mfa.success", "mfa.failure", "admin.user.created",
                "admin.user.password_set", "admin.user.unlocked", "admin.user.updated", "admin.user.disabled",
                "admin.user.deleted", "key.rotated"}
    assert expected <= kinds, expected - kinds
    reasons = {r.detail.get("reason") for r in rows if r.kind == "login.failure"}
    assert {"bad_password", "unknown_user"} <= reasons
    http_rows = [r for r in rows if r.kind.startswith(("login.", "token.", "mfa.success"))]
    assert all(r.ip == "testclient" and r.request_id for r in http_rows)
    alice_success = next(r for r in rows if r.kind == "login.success")
    assert alice_success.actor and alice_success.actor.startswith("u_")
    admin_rows = [r for r in rows if r.kind.startswith("admin.user.") and r.kind != "admin.user.created"]
    assert all(r.actor and r.actor.startswith("u_") for r in admin_rows)

    # The JSON log lines carry the same fields.
    lines = [json.loads(rec.getMessage()) for rec in caplog.records if rec.name == "idgate.events"]
    assert {"event", "at", "actor", "client_id", "ip", "request_id", "outcome", "detail"} <= set(lines[0])

    # Nothing secret anywhere: every log record, and every column of every event row.
    log_text = "\n".join(rec.getMessage() for rec in caplog.records) + caplog.text
    with transaction(env.provider.sessions) as session:
        table_text = "\n".join(" ".join(str(v) for v in row) for row in session.execute(text("SELECT * FROM events")))
    for value in secrets_used:
        assert value not in log_text, f"a secret ({value[:6]}...) is in the log"
        assert value not in table_text, f"a secret ({value[:6]}...) is in the events table"
    assert "mallory" not in table_text  # unknown usernames are not recorded (they may be passwords)


def test_events_table_is_append_only(env: Env) -> None:
    events.record(env.provider.sessions, "test.event", "success", actor="t")
    for statement in ("UPDATE events SET outcome = 'x'", "DELETE FROM events"):
        with pytest.raises(DBAPIError, match="append-only"):
            with transaction(env.provider.sessions) as session:
                session.execute(text(statement))


def test_detail_keys_that_look_secret_are_refused(env: Env) -> None:
    for key in ("password", "refresh_token", "otp", "client_secret", "recovery_code"):
        with pytest.raises(ValueError, match="looks like a secret"):
            events.record(env.provider.sessions, "test.bad", **{key: "x"})


def test_throttled_floods_are_folded_in_the_table_but_logged(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="idgate.events")
    with env.client() as c:
        for _ in range(60):
            login(c, password=WRONG)
    rows = event_queries.search(env.provider.sessions, kind="login.throttled", limit=1000)
    logged = [r for r in caplog.records if '"login.throttled"' in r.getMessage()]
    assert len(logged) >= 50 and len(rows) <= 3


def test_cli_events_tail_and_search(env: Env) -> None:
    from typer.testing import CliRunner

    from idgate.cli import app

    with env.client() as c:
        login(c)
        login(c, password=WRONG)
    data = ["--data", str(env.deployment.data)]
    tail = CliRunner().invoke(app, ["events", "tail", "-n", "5", "--json", *data])
    parsed = [json.loads(line) for line in tail.stdout.splitlines() if line.startswith("{")]
    assert tail.exit_code == 0 and parsed, tail.stdout
    assert parsed[-1]["kind"] == "login.failure" and parsed[-1]["detail"]["reason"] == "bad_password", parsed
    since = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
    found = CliRunner().invoke(app, ["events", "search", "--kind", "login.*", "--user", "alice", "--outcome",
                                     "success", "--since", since, "--json", *data])
    lines = found.stdout.splitlines()
    assert found.exit_code == 0 and lines and all(json.loads(line)["kind"] == "login.success" for line in lines)
    table = CliRunner().invoke(app, ["events", "search", "--kind", "login.failure", *data])
    assert "bad_password" in table.stdout
    bad = CliRunner().invoke(app, ["events", "search", "--since", "yesterday", *data])
    assert bad.exit_code != 0


@pytest.mark.postgres
def test_the_same_rules_on_postgresql(pg_database: str, tmp_path, fake_clock) -> None:  # type: ignore[no-untyped-def]
    """Migration 0003, the append-only trigger, lockout, MFA single use and events on PostgreSQL."""
    from idgate.mfa import service as mfa

    from security_support import add_alice, make_env
    from support import init_deployment_fast

    env = make_env(init_deployment_fast(tmp_path / "pg", pg_database), fake_clock, throttle_lockout=3)
    try:
        add_alice(env.provider)
        with env.client() as c:
            for _ in range(4):
                login(c, password=WRONG)
                fake_clock.advance(1000)
            assert login(c).status_code == 403
            assert c.post("/admin/users/alice/unlock",
                          headers={"Authorization": f"Bearer {admin_token(c, env.deployment)}"}).status_code == 200
            codes = mfa.enroll_totp(env.provider, mfa.user_id_of(env.provider, "alice"), confirmed=True).recovery_codes
            assert login(c, otp=codes[0]).status_code == 200
            assert login(c, otp=codes[0]).status_code == 401
        kinds = {e.kind for e in event_queries.search(env.provider.sessions, limit=500)}
        assert {"account.locked", "admin.user.unlocked", "mfa.success", "mfa.failure", "login.success"} <= kinds
        with pytest.raises(DBAPIError, match="append-only"):
            with transaction(env.provider.sessions) as session:
                session.execute(text("DELETE FROM events"))
    finally:
        env.provider.close()
