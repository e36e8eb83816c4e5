"""A real browser (Debian's Chromium through Playwright) against a real `idgate serve`:
the app's login link -> sign in -> consent -> back at the app with a code; cookie flags as the
browser stores them; the CSRF token is required; framing by another origin is refused.
Screenshots of the login, consent and error pages go to test-output/."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from idgate.services.clients.metadata import ClientSpec

from oauth_live import loopback_app, live, register_client
from oauth_support import pkce
from support import GOOD_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow]
OUT = Path(__file__).resolve().parents[2] / "test-output"


def test_browser_login_consent_and_back_to_the_app(chromium, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    OUT.mkdir(exist_ok=True)
    with loopback_app() as app, live(tmp_path / "data") as server:
        register_client(server.deployment, ClientSpec(
            client_id="photos", name="Photo Album", public=True, redirect_uris=[app.redirect_uri],
            scopes=["openid profile email things:read"]))
        verifier, challenge = pkce()
        link = server.url + "/authorize?" + urlencode({
            "response_type": "code", "client_id": "photos", "redirect_uri": app.redirect_uri,
            "scope": "openid profile email", "state": "xyz-state", "nonce": "n-1", "code_challenge": challenge,
            "code_challenge_method": "S256"})
        app.pages["/"] = f'<!doctype html><title>Photo Album</title><a id="login" href="{link}">Sign in with idgate</a>'
        context = chromium.new_context(ignore_https_errors=True, viewport={"width": 960, "height": 760},
                                       device_scale_factor=1)
        page = context.new_page()
        page.goto(app.base + "/")
        page.click("#login")
        page.wait_for_selector("input#password")
        assert "/interaction/" in page.url
        page.screenshot(path=str(OUT / "login.png"), full_page=True)

        # The session cookie as the browser stored it.
        cookies = {c["name"]: c for c in context.cookies(server.url)}
        cookie = cookies["__Host-idgate_session"]
        assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/"
        assert cookie["domain"] == "localhost"  # host-only: no Domain attribute
        before = cookie["value"]

        # The CSRF token is required: the same POST with the browser's cookies but no token fails.
        action = page.get_attribute("form", "action")
        forged = context.request.post(server.url + action, form={"username": "alice", "password": GOOD_PASSWORD},
                                      max_redirects=0)
        assert forged.status == 403 and "expired or did not come from this site" in forged.text()

        # A wrong password: announced (role=alert), password not reflected, username kept.
        page.fill("#username", "alice")
        page.fill("#password", "wrong password, quite long")
        page.click("button[type=submit]")
        alert = page.wait_for_selector("[role=alert]")
        assert "username or password is incorrect" in alert.inner_text()
        assert page.input_value("#password") == "" and page.input_value("#username") == "alice"
        assert "wrong password, quite long" not in page.content()
        assert page.get_attribute("#password", "autocomplete") == "current-password"
        assert page.get_attribute("#username", "autocomplete") == "username webauthn"
        page.screenshot(path=str(OUT / "login-error.png"), full_page=True)

        page.fill("#password", GOOD_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("button[value=allow]")
        assert "Photo Album" in page.content() and "See your email address" in page.content()
        page.screenshot(path=str(OUT / "consent.png"), full_page=True)
        after = {c["name"]: c for c in context.cookies(server.url)}["__Host-idgate_session"]["value"]
        assert after != before  # a new session id at sign-in

        with page.expect_navigation(url=app.redirect_uri + "*"):
            page.click("button[value=allow]")
        assert page.url.startswith(app.redirect_uri) and page.inner_text("h1") == "Back at the app"
        result = app.hits[-1]
        assert result["state"] == "xyz-state" and result["iss"] == server.url and result["code"]

        # The code works once, for this client, with the verifier.
        with server.client() as http:
            reply = http.post("/token", data={"grant_type": "authorization_code", "client_id": "photos",
                                              "code": result["code"], "code_verifier": verifier,
                                              "redirect_uri": app.redirect_uri})
            assert reply.status_code == 200, reply.text
            assert "id_token" in reply.json()

        # Another origin cannot frame idgate's pages (CSP frame-ancestors 'none', X-Frame-Options DENY).
        app.pages["/frame"] = (f'<!doctype html><title>Framer</title>'
                               f'<iframe id="f" src="{server.url}/account" width="600" height="400"></iframe>')
        framer = context.new_page()
        blocked: list[str] = []
        framer.on("console", lambda msg: blocked.append(msg.text))
        framer.goto(app.base + "/frame")
        framer.wait_for_timeout(500)
        child = next(f for f in framer.frames if f != framer.main_frame)
        assert not child.url.startswith(server.url) or child.query_selector("h1") is None
        assert any("frame-ancestors" in m or "X-Frame-Options" in m or "Refused to display" in m for m in blocked), blocked

        # The error page a user sees for a broken link (never redirected anywhere).
        page.goto(server.url + "/authorize?client_id=nobody&response_type=code")
        page.wait_for_selector("[role=alert]")
        page.screenshot(path=str(OUT / "error.png"), full_page=True)

        # The account page: signed in already in this browser.
        page.goto(server.url + "/account")
        page.wait_for_selector("text=Signed-in browsers")
        assert "This browser" in page.content() and "Photo Album" in page.content()
        page.screenshot(path=str(OUT / "account.png"), full_page=True)
        context.close()


def test_browser_sets_up_two_step_verification_on_the_account_page(chromium, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Sign in at /account, set up an authenticator app: the QR code image renders under the
    page's CSP (no violation reported), the key's first code turns it on, recovery codes show."""
    import pyotp

    OUT.mkdir(exist_ok=True)
    with live(tmp_path / "data") as server:
        context = chromium.new_context(ignore_https_errors=True, viewport={"width": 960, "height": 900},
                                       device_scale_factor=1)
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
        page.goto(server.url + "/account")
        page.fill("#username", "alice")
        page.fill("#password", GOOD_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#mfa-title")
        page.click("text=Set up authenticator app")
        page.wait_for_url(server.url + "/account/mfa/totp")
        image = page.wait_for_selector("img.qr")
        _wait_until_loaded(page, "img.qr")
        assert page.evaluate("document.querySelector('img.qr').naturalWidth") > 0
        assert image.bounding_box()["width"] >= 180
        key = page.inner_text(".totp-key").replace(" ", "")
        assert len(key) == 32 and key not in page.url
        page.screenshot(path=str(OUT / "mfa-enrol.png"), full_page=True)

        page.fill("#otp", "000000" if pyotp.TOTP(key).now() != "000000" else "111111")
        page.click("button[type=submit]")
        assert "not right" in page.wait_for_selector("[role=alert]").inner_text()
        assert page.get_attribute("#otp", "aria-invalid") == "true"
        assert page.evaluate("document.querySelector('img.qr').naturalWidth") > 0  # still there to scan

        page.fill("#otp", pyotp.TOTP(key).now())
        page.click("button[type=submit]")
        page.wait_for_selector("ol.recovery-codes")
        assert len(page.query_selector_all("ol.recovery-codes li")) == 10
        page.screenshot(path=str(OUT / "mfa-recovery-codes.png"), full_page=True)
        page.click("text=back to your account")
        page.wait_for_selector(".badge.on")
        page.screenshot(path=str(OUT / "account-mfa.png"), full_page=True)
        context.close()
    violations = [m for m in console if "Content Security Policy" in m or "Refused to" in m or "pageerror" in m]
    assert not violations, console


def test_browser_sets_up_two_step_verification_while_signing_in(chromium, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A role requires a second factor that carol has not set up: after her password the sign-in
    shows the set-up step (the QR code renders under the page's CSP), her first code turns it on,
    the recovery codes show, and "Continue" takes her on to the app with a code."""
    import pyotp
    from sqlalchemy import select

    from idgate.config.loading import load_settings
    from idgate.mfa import service as mfa
    from idgate.provider import Provider
    from idgate.services import accounts
    from idgate.store.db import transaction
    from idgate.store.models import Role

    OUT.mkdir(exist_ok=True)
    password = GOOD_PASSWORD + " zebra"
    with loopback_app() as app, live(tmp_path / "data") as server:
        register_client(server.deployment, ClientSpec(
            client_id="photos", name="Photo Album", public=True, redirect_uris=[app.redirect_uri],
            scopes=["openid"], skip_consent=True))
        provider = Provider(load_settings(server.deployment.data))
        try:
            accounts.add_user(provider.sessions, "carol", password, roles=["staff"])
            with transaction(provider.sessions) as session:
                staff = session.scalars(select(Role).where(Role.name == "staff")).one()
                mfa.set_role_requires_mfa(session, staff, True)
        finally:
            provider.close()
        _verifier, challenge = pkce()
        link = server.url + "/authorize?" + urlencode({
            "response_type": "code", "client_id": "photos", "redirect_uri": app.redirect_uri, "scope": "openid",
            "state": "st-mfa", "code_challenge": challenge, "code_challenge_method": "S256"})
        context = chromium.new_context(ignore_https_errors=True, viewport={"width": 960, "height": 900},
                                       device_scale_factor=1)
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
        page.goto(link)
        page.fill("#username", "carol")
        page.fill("#password", password)
        page.click("button[type=submit]")
        image = page.wait_for_selector("img.qr")
        _wait_until_loaded(page, "img.qr")
        assert page.evaluate("document.querySelector('img.qr').naturalWidth") > 0
        assert image.bounding_box()["width"] >= 180 and "/interaction/" in page.url
        key = page.inner_text(".totp-key").replace(" ", "")
        assert len(key) == 32 and key not in page.url
        page.screenshot(path=str(OUT / "login-mfa-enrol.png"), full_page=True)

        page.fill("#otp", pyotp.TOTP(key).now())
        page.click("button[type=submit]")
        page.wait_for_selector("ol.recovery-codes")
        assert len(page.query_selector_all("ol.recovery-codes li")) == 10
        with page.expect_navigation(url=app.redirect_uri + "*"):
            page.click("text=Continue")
        assert app.hits[-1]["state"] == "st-mfa" and app.hits[-1]["code"]
        context.close()
    violations = [m for m in console if "Content Security Policy" in m or "Refused to" in m or "pageerror" in m]
    assert not violations, console


def _wait_until_loaded(page, selector: str, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Poll with page.evaluate (a DevTools evaluation, outside the page's CSP). Playwright's
    wait_for_function evaluates its string predicate inside the page, which the strict CSP
    refuses as eval whenever the predicate is not already true on the first check."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(f"document.querySelector({selector!r}).complete"):
        assert time.monotonic() < deadline, f"{selector} did not load"
        page.wait_for_timeout(50)
