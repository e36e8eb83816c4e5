"""``idgate login`` against a real server: DPoP with a key kept in the user's config folder
(mode 0600), proofs for other requests (``idgate dpop proof``), and a second factor (``--otp``
or the prompt)."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest

from idgate.jose.dpop_key import DpopKey

from dpop_client import claims_of
from support import GOOD_PASSWORD, LiveServer, init_deployment_fast, run_cli, start_server, stop_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    deployment = init_deployment_fast(tmp_path_factory.mktemp("cli-login") / "data")
    deployment.cli("user", "add", "bob", "--password-stdin", "--permission", "things:read", stdin=GOOD_PASSWORD + "\n")
    live = start_server(deployment)
    yield live
    stop_server(live)


def _login(server: LiveServer, *extra: str, stdin: str = GOOD_PASSWORD + "\n", user: str = "bob",
           check: bool = True):  # type: ignore[no-untyped-def]
    return run_cli("login", user, "--issuer", server.url, "--ca", str(server.deployment.ca), "--password-stdin",
                   *extra, stdin=stdin, check=check)


def test_login_dpop_keeps_a_private_key_and_binds_every_token_to_it(server: LiveServer, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    first = json.loads(_login(server, "--dpop").stdout)
    key_file = tmp_path / "config" / "idgate" / "dpop-key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    key = DpopKey.from_pem(key_file.read_bytes())
    assert first["token_type"] == "DPoP" and claims_of(first["access_token"])["cnf"] == {"jkt": key.jkt}
    second = json.loads(_login(server, "--dpop").stdout)  # the same key again, not a new one
    assert claims_of(second["access_token"])["cnf"]["jkt"] == key.jkt
    shown = run_cli("dpop", "key").stdout
    assert key.jkt in shown and str(key_file) in shown
    plain = json.loads(_login(server).stdout)
    assert plain["token_type"] == "Bearer" and "cnf" not in claims_of(plain["access_token"])


def test_a_key_file_readable_by_others_is_refused(server: LiveServer, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    _login(server, "--dpop")
    key_file = tmp_path / "config" / "idgate" / "dpop-key.pem"
    key_file.chmod(0o644)
    refused = _login(server, "--dpop", check=False)
    assert refused.returncode != 0 and "chmod 600" in refused.stderr


def test_dpop_proof_signs_a_proof_a_service_accepts(server: LiveServer, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from idgate.rs.dpop import ProofChecker

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    token = _login(server, "--dpop", "--token-only").stdout.strip()
    url = server.url + "/userinfo"
    proof = run_cli("dpop", "proof", "GET", url, "--token", token).stdout.strip()
    checked = ProofChecker().check(proof, method="GET", url=url, access_token=token,
                                   jkt=claims_of(token)["cnf"]["jkt"])
    assert checked.htm == "GET"
    with server.client() as http:
        reply = http.get("/userinfo", headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    assert reply.status_code == 200, reply.text
    assert reply.json()["preferred_username"] == "bob"


def _enrol(server: LiveServer, user: str) -> pyotp.TOTP:
    server.deployment.cli("user", "add", user, "--password-stdin", stdin=GOOD_PASSWORD + "\n")
    with server.client() as http:
        token = http.post("/login", json={"username": user, "password": GOOD_PASSWORD}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        totp = pyotp.TOTP(http.post("/mfa/totp", headers=auth).json()["secret"])
        assert http.post("/mfa/totp/confirm", headers=auth, json={"otp": totp.now()}).status_code == 200
    return totp


def _next_code(totp: pyotp.TOTP) -> str:
    return totp.at(time.time() + 30)  # the confirmation spent this step's code; the next one is in the window


@pytest.mark.parametrize("how", ["prompt", "option"])
def test_login_takes_the_one_time_code_of_an_account_with_mfa(server: LiveServer, how: str) -> None:
    user = f"carol-{how}"
    totp = _enrol(server, user)
    without = _login(server, user=user, check=False)
    assert without.returncode != 0 and "mfa_required" in without.stderr
    if how == "prompt":  # with --password-stdin the code is the next line
        reply = _login(server, user=user, stdin=f"{GOOD_PASSWORD}\n{_next_code(totp)}\n")
    else:
        reply = _login(server, "--otp", _next_code(totp), user=user)
    assert "otp" in claims_of(json.loads(reply.stdout)["access_token"])["amr"]
