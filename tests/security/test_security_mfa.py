"""TOTP second factor (RFC 6238) and recovery codes: enrolment over the API and the CLI, /login's
second step, amr, single use, the ±1 step window, encryption at rest, role-required MFA, and the
8-character password minimum that a second factor allows."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import pyotp
import pytest
from sqlalchemy import select

from idgate.errors import WeakPassword
from idgate.mfa import service as mfa
from idgate.mfa import totp
from idgate.services import accounts
from idgate.store.db import transaction
from idgate.store.models_security import RecoveryCode, TotpFactor

from security_support import Env, admin_token
from support import GOOD_PASSWORD, login


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _code(secret: str, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


def _enrol_over_api(c, env: Env) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    token = login(c).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert c.get("/mfa", headers=auth).json() == {"totp": "none", "recovery_codes_left": 0, "required": False}
    started = c.post("/mfa/totp", headers=auth)
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/idgate:alice?") and "secret=" in body["otpauth_uri"]
    assert body["qr_svg"].startswith("<svg") and "</svg>" in body["qr_svg"]
    secret = body["secret"]
    assert c.get("/mfa", headers=auth).json()["totp"] == "pending"
    assert login(c).status_code == 200  # a pending enrolment does not change logins yet
    wrong = c.post("/mfa/totp/confirm", headers=auth, json={"otp": "123456" if _code(secret) != "123456" else "654321"})
    assert wrong.status_code == 401
    confirmed = c.post("/mfa/totp/confirm", headers=auth, json={"otp": _code(secret)})
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert c.get("/mfa", headers=auth).json() == {"totp": "active", "recovery_codes_left": 10, "required": False}
    return secret, codes


def test_enrol_then_login_needs_the_code_and_amr_shows_it(env: Env) -> None:
    with env.client() as c:
        secret, _codes = _enrol_over_api(c, env)
        env.clock.advance(0)
        first = login(c)
        assert first.status_code == 401 and first.json()["error"] == "mfa_required"
        assert "otp" in first.json()["error_description"]
        # The confirming code's step is spent: the next step's code (within the window) works.
        ok = login(c, otp=_code(secret, +1))
        assert ok.status_code == 200, ok.text
        claims = _claims(ok.json()["access_token"])
        assert claims["amr"] == ["pwd", "otp"]
        replay = login(c, otp=_code(secret, +1))
        assert replay.status_code == 401 and replay.json()["error_description"].startswith("The one-time code")
        # amr survives a refresh.
        refreshed = c.post("/token", data={"grant_type": "refresh_token", "refresh_token": ok.json()["refresh_token"]})
        assert _claims(refreshed.json()["access_token"])["amr"] == ["pwd", "otp"]
        # Wrong password with a right code: the ordinary reply, nothing about MFA.
        bad = login(c, password="not the password at all", otp=_code(secret))
        assert bad.status_code == 401 and bad.json()["error"] == "invalid_grant"


def test_window_is_one_step_either_side(env: Env) -> None:
    user_id = mfa.user_id_of(env.provider, "alice")
    secret = mfa.enroll_totp(env.provider, user_id, confirmed=True).secret
    now = time.time()
    step = totp.current_step(now)
    assert totp.match(secret, totp.code_at(secret, step - 2), now, None) == (None, False)
    assert totp.match(secret, totp.code_at(secret, step + 2), now, None) == (None, False)
    assert totp.match(secret, totp.code_at(secret, step - 1), now, None) == (step - 1, False)
    assert totp.match(secret, totp.code_at(secret, step + 1), now, None) == (step + 1, False)
    assert totp.match(secret, totp.code_at(secret, step), now, step) == (None, True)  # replay
    assert mfa.verify_second_factor(env.provider, user_id, totp.code_at(secret, step - 1), now=now) == "totp"
    with pytest.raises(Exception, match="one-time code"):  # an older step after a newer one: refused
        mfa.verify_second_factor(env.provider, user_id, totp.code_at(secret, step - 1), now=now)


def test_recovery_codes_work_once_and_are_stored_as_hashes(env: Env) -> None:
    user_id = mfa.user_id_of(env.provider, "alice")
    enrolment = mfa.enroll_totp(env.provider, user_id, confirmed=True)
    codes = list(enrolment.recovery_codes)
    with env.client() as c:
        ok = login(c, otp=codes[0].upper().replace("-", " "))  # typed loosely: still the same code
        assert ok.status_code == 200 and _claims(ok.json()["access_token"])["amr"] == ["pwd", "otp"]
        assert login(c, otp=codes[0]).status_code == 401  # single use
    with transaction(env.provider.sessions) as session:
        stored = [r.code_hash for r in session.scalars(select(RecoveryCode))]
        row = session.get(TotpFactor, user_id)
        assert row is not None
        sealed = row.secret_enc
    assert len(stored) == 10 and all(len(h) == 64 for h in stored)
    dump = " ".join(stored) + sealed
    assert not any(code.replace("-", "") in dump or code in dump for code in codes)
    assert enrolment.secret not in sealed and enrolment.secret.lower() not in sealed.lower()
    assert mfa.status(env.provider, user_id).recovery_codes_left == 9


def test_sealed_secret_is_bound_to_its_user_and_kek(env: Env) -> None:
    from idgate.mfa import crypto

    sealed = crypto.seal(env.provider.kek, "JBSWY3DPEHPK3PXP", "u_alice")
    assert crypto.open_sealed(env.provider.kek, sealed, "u_alice") == "JBSWY3DPEHPK3PXP"
    assert crypto.open_sealed(env.provider.kek, sealed, "u_mallory") is None
    assert crypto.open_sealed(bytes(32), sealed, "u_alice") is None


def test_remove_and_regenerate_need_a_current_code(env: Env) -> None:
    with env.client() as c:
        secret, codes = _enrol_over_api(c, env)
        token = login(c, otp=codes[1]).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert c.post("/mfa/totp", headers=auth).status_code == 409  # active: no silent replacement
        assert c.post("/mfa/recovery-codes", headers=auth, json={"otp": "000000"}).status_code == 401
        new = c.post("/mfa/recovery-codes", headers=auth, json={"otp": codes[2]})
        assert new.status_code == 200 and len(new.json()["recovery_codes"]) == 10
        assert login(c, otp=codes[3]).status_code == 401  # the old codes are gone
        removed = c.post("/mfa/totp/remove", headers=auth, json={"otp": new.json()["recovery_codes"][0]})
        assert removed.status_code == 200
        assert login(c).status_code == 200  # password only again
        assert c.get("/mfa").status_code == 401  # no token: no status
        assert c.post("/mfa/totp/confirm", headers=auth, json={"otp": "1", "extra": 1}).status_code == 400


def test_role_can_require_mfa_enrolment_only_token(env_factory: Callable[..., Env]) -> None:
    env = env_factory(require_mfa_roles="staff")
    with env.client() as c:
        reply = login(c)
        assert reply.status_code == 200
        body = reply.json()
        assert body["mfa_enrollment_required"] is True and "refresh_token" not in body
        claims = _claims(body["access_token"])
        assert claims["scope"] == "idgate:mfa-enroll" and claims["permissions"] == [] and claims["roles"] == []
        auth = {"Authorization": f"Bearer {body['access_token']}"}
        assert c.get("/mfa", headers=auth).json()["required"] is True
        secret = c.post("/mfa/totp", headers=auth).json()["secret"]
        assert c.post("/mfa/totp/confirm", headers=auth, json={"otp": _code(secret)}).status_code == 200
        full = login(c, otp=_code(secret, +1))
        assert full.status_code == 200 and "refresh_token" in full.json()
        assert _claims(full.json()["access_token"])["permissions"] == ["things:read", "things:write"]


def test_admin_marks_a_role_as_requiring_mfa(env: Env) -> None:
    with env.client() as c:
        token = admin_token(c, env.deployment)
        reply = c.put("/admin/roles/staff", json={"require_mfa": True}, headers={"Authorization": f"Bearer {token}"})
        assert reply.status_code == 200 and reply.json()["require_mfa"] is True
        assert login(c).json().get("mfa_enrollment_required") is True
        from idgate.mfa.errors import MfaEnrollmentRequired
        from idgate.services.login import authenticate

        import anyio

        with pytest.raises(MfaEnrollmentRequired):
            anyio.run(lambda: authenticate(env.provider, "alice", GOOD_PASSWORD))


def test_eight_character_passwords_only_with_a_second_factor(env: Env) -> None:
    with pytest.raises(WeakPassword, match="at least 15"):
        accounts.set_password(env.provider.sessions, "alice", "tuvwxyz8q")
    mfa.enroll_totp(env.provider, mfa.user_id_of(env.provider, "alice"), confirmed=True)
    accounts.set_password(env.provider.sessions, "alice", "tuvwxyz8q")  # 9 characters, allowed now
    with pytest.raises(WeakPassword, match="username, email, name"):
        accounts.set_password(env.provider.sessions, "alice", "Liddell-rocks-2026")
    with pytest.raises(WeakPassword, match="too common"):
        accounts.set_password(env.provider.sessions, "alice", "password1234")


def test_cli_enroll_writes_a_qr_code_and_prints_recovery_codes(env: Env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from idgate.cli import app

    svg = tmp_path / "alice.svg"
    data = ["--data", str(env.deployment.data)]
    enrolled = CliRunner().invoke(app, ["mfa", "enroll", "alice", "--qr", str(svg), *data])
    assert enrolled.exit_code == 0, enrolled.stdout
    assert "otpauth://totp/idgate:alice?" in enrolled.stdout
    codes = [line.strip() for line in enrolled.stdout.splitlines() if line.startswith("  ")]
    assert len(codes) == 10
    assert svg.read_text().startswith("<svg") and (svg.stat().st_mode & 0o777) == 0o600
    status = CliRunner().invoke(app, ["mfa", "status", "alice", *data]).stdout
    assert "totp active, 10 recovery codes left" in status
    again = CliRunner().invoke(app, ["mfa", "enroll", "alice", "--qr", str(svg), *data])
    assert again.exit_code != 0  # an active authenticator is not silently replaced
    with env.client() as c:
        assert login(c).json()["error"] == "mfa_required"
        assert login(c, otp=codes[0]).status_code == 200
    assert "removed" in CliRunner().invoke(app, ["mfa", "reset", "alice", *data]).stdout
    assert mfa.status(env.provider, mfa.user_id_of(env.provider, "alice")).totp == "none"
