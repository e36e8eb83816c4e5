"""The device flow end to end (RFC 8628): ``idgate login --device`` against a real ``idgate serve``
over HTTPS, and a real browser (Debian's chromium) where an account with an authenticator app
(TOTP) signs in with its password and code, reads which app asks, and allows - the CLI, which
could not have taken the second factor itself, ends with tokens that say ``otp``. Denying ends
the CLI with ``access_denied`` and a non-zero exit status."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from pathlib import Path

import pyotp
import pytest

from oauth_live import live
from support import GOOD_PASSWORD, IDGATE, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]
OUT = Path(__file__).resolve().parents[2] / "test-output"
LINK = re.compile(r"\(or open (https://\S+)\)")


def _enrol_totp(server: LiveServer, user: str) -> pyotp.TOTP:
    server.deployment.cli("user", "add", user, "--password-stdin", "--permission", "things:read",
                          stdin=GOOD_PASSWORD + "\n")
    with server.client() as http:
        token = http.post("/login", json={"username": user, "password": GOOD_PASSWORD}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        totp = pyotp.TOTP(http.post("/mfa/totp", headers=auth).json()["secret"])
        assert http.post("/mfa/totp/confirm", headers=auth, json={"otp": totp.now()}).status_code == 200
    return totp


def _start_cli(server: LiveServer) -> tuple[subprocess.Popen[str], str]:
    """``idgate login --device``; returns the process and the link it printed."""
    proc = subprocess.Popen([IDGATE, "login", "--device", "--issuer", server.url, "--ca", str(server.deployment.ca)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    lines = [proc.stderr.readline(), proc.stderr.readline()]
    assert "enter the code" in lines[0], lines
    found = LINK.search(lines[1])
    assert found, lines
    return proc, found.group(1)


def _sign_in(page, link: str, user: str, totp: pyotp.TOTP) -> None:  # type: ignore[no-untyped-def]
    page.goto(link)
    page.fill("#username", user)
    page.fill("#password", GOOD_PASSWORD)
    page.click("form.form button[type=submit]")
    page.wait_for_selector("#otp")
    page.fill("#otp", totp.at(time.time() + 30))  # the enrolment spent this step's code
    page.get_by_role("button", name="Verify", exact=True).click()
    page.wait_for_selector("text=Allow this device?")


def test_cli_device_login_approved_in_a_browser_by_a_totp_user(chromium, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    OUT.mkdir(exist_ok=True)
    with live(tmp_path / "data") as server:
        totp = _enrol_totp(server, "carol")
        proc, link = _start_cli(server)
        context = chromium.new_context(ignore_https_errors=True)
        try:
            page = context.new_page()
            problems: list[str] = []
            page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text
                    else None)
            _sign_in(page, link, "carol", totp)
            text = " ".join(page.inner_text("main").split())
            assert "idgate command line on another device wants to use your idgate account" in text
            assert "If someone sent you this link or code, deny" in text
            page.screenshot(path=str(OUT / "device-confirm.png"), full_page=True)
            page.get_by_role("button", name="Allow", exact=True).click()
            page.wait_for_selector("text=Device connected")
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            tokens = json.loads(out)
            with server.client() as http:
                me = http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
            assert me.status_code == 200 and me.json()["preferred_username"] == "carol"
            payload = tokens["id_token"].split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            assert "otp" in claims["amr"] and claims["aud"] == "idgate-cli"

            denied, link = _start_cli(server)  # signed in already: straight to the question
            page.goto(link)
            page.get_by_role("button", name="Deny", exact=True).click()
            page.wait_for_selector("text=Request denied")
            _, err = denied.communicate(timeout=60)
            assert denied.returncode != 0 and "access_denied" in err and "Traceback" not in err
            assert problems == []
        finally:
            context.close()
            if proc.poll() is None:
                proc.kill()
