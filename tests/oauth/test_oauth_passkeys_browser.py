"""Passkeys in a real browser (Debian's Chromium through Playwright) against a real
`idgate serve`, with the DevTools protocol's virtual authenticator (ctap2, internal transport,
resident keys, user verification) standing in for a phone or a laptop's fingerprint reader:

- add a passkey on the account page, name it, sign out, sign in to an app with the passkey
  alone (no username, no password), and the ID token says so (amr hwk/user/mfa, acr phr);
- a passkey as the second factor after a password;
- remove it and it no longer signs in; a credential idgate never registered is refused;
- adding a passkey after the sign-in grew old sends the user to sign in again first;
- a client that demands a passkey (acr_values=phr) steps a password-only session up.
Screenshots go to test-output/."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from idgate.services.clients.metadata import ClientSpec

from oauth_live import live, loopback_app, register_client
from oauth_support import pkce
from support import GOOD_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow]
OUT = Path(__file__).resolve().parents[2] / "test-output"


class Browser:
    """A browser context with one virtual authenticator and a console log. ``autofill=False``:
    a browser without passkey autofill (conditional mediation), so the button is what signs in;
    with it, Chromium's virtual authenticator answers the autofill request by itself."""

    def __init__(self, chromium, *, autofill: bool = False) -> None:  # type: ignore[no-untyped-def]
        self.context = chromium.new_context(ignore_https_errors=True, viewport={"width": 960, "height": 900})
        if not autofill:  # an init script runs through DevTools, outside the page's CSP
            self.context.add_init_script("Object.defineProperty(PublicKeyCredential, "
                                         "'isConditionalMediationAvailable', {value: () => Promise.resolve(false)})")
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        self.page.on("pageerror", lambda exc: self.console.append(f"pageerror: {exc}"))
        self.cdp = self.context.new_cdp_session(self.page)
        self.cdp.send("WebAuthn.enable", {"enableUI": False})
        self.authenticator = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "ctap2Version": "ctap2_1", "transport": "internal", "hasResidentKey": True,
            "hasUserVerification": True, "isUserVerified": True,
            "automaticPresenceSimulation": True}})["authenticatorId"]

    def credentials(self) -> list[dict]:  # type: ignore[type-arg]
        return self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.authenticator})["credentials"]

    def violations(self) -> list[str]:
        return [m for m in self.console if "Content Security Policy" in m or "Refused to" in m or "pageerror" in m]

    def close(self) -> None:
        self.context.close()


def _claims(token: str) -> dict:  # type: ignore[type-arg]
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _sign_in_with_password(page, server_url: str, username: str = "alice") -> None:  # type: ignore[no-untyped-def]
    page.goto(server_url + "/account")
    page.fill("#username", username)
    page.fill("#password", GOOD_PASSWORD)
    page.click("form.form button[type=submit]")


def _add_passkey(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("button", name="Add a passkey", exact=True).click()
    page.wait_for_url("**/account/passkeys/pk_*")
    assert "Your passkey was added" in page.content()
    page.fill("#passkey-name", name)
    page.click("form.form button[type=submit]")
    page.wait_for_selector(f"text=Saved as “{name}”")


def _sign_out(page, server_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(server_url + "/account")
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_selector("text=You are signed out")


def _authorize_link(server_url: str, redirect_uri: str, verifier_challenge: str, **extra: str) -> str:
    return server_url + "/authorize?" + urlencode({
        "response_type": "code", "client_id": "photos", "redirect_uri": redirect_uri, "scope": "openid",
        "state": "st-pk", "nonce": "n-pk", "code_challenge": verifier_challenge, "code_challenge_method": "S256",
        **extra})


def _id_token(server, redirect_uri: str, verifier: str, code: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    with server.client() as http:
        reply = http.post("/token", data={"grant_type": "authorization_code", "client_id": "photos", "code": code,
                                          "code_verifier": verifier, "redirect_uri": redirect_uri})
    assert reply.status_code == 200, reply.text
    return _claims(reply.json()["id_token"])


def test_passkey_added_on_the_account_page_signs_in_alone_and_stops_when_removed(chromium, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    OUT.mkdir(exist_ok=True)
    with loopback_app() as app, live(tmp_path / "data") as server:
        register_client(server.deployment, ClientSpec(client_id="photos", name="Photo Album", public=True,
                                                      redirect_uris=[app.redirect_uri], scopes=["openid"],
                                                      skip_consent=True))
        b = Browser(chromium)
        page = b.page
        _sign_in_with_password(page, server.url)
        page.wait_for_selector("#passkeys-title")
        assert page.is_visible("#no-passkeys")
        _add_passkey(page, "Laptop")
        stored = b.credentials()
        assert len(stored) == 1 and stored[0]["isResidentCredential"] and stored[0]["rpId"] == "localhost"
        item = page.locator(".passkeys li")
        assert item.count() == 1 and "Laptop" in item.inner_text() and "Not used yet" in item.inner_text()
        assert "This device only" in item.inner_text()  # the virtual authenticator is not backup eligible
        page.screenshot(path=str(OUT / "account-passkeys.png"), full_page=True)
        _sign_out(page, server.url)

        # Sign in to the app with the passkey alone: no username, no password typed.
        verifier, challenge = pkce()
        page.goto(_authorize_link(server.url, app.redirect_uri, challenge))
        page.wait_for_selector("#passkey-sign-in:visible")
        assert page.get_attribute("#username", "autocomplete") == "username webauthn"  # passkey autofill
        page.screenshot(path=str(OUT / "login-passkey.png"), full_page=True)
        with page.expect_navigation(url=app.redirect_uri + "*"):
            page.get_by_role("button", name="Sign in with a passkey", exact=True).click()
        result = parse_qs(urlsplit(page.url).query)
        assert result["state"] == ["st-pk"] and result["iss"] == [server.url]
        claims = _id_token(server, app.redirect_uri, verifier, result["code"][0])
        assert claims["amr"] == ["hwk", "user", "mfa"] and claims["acr"] == "phr"
        assert isinstance(claims["auth_time"], int) and claims["nonce"] == "n-pk"

        # The account page now shows when it was last used.
        page.goto(server.url + "/account")
        assert "Last used" in page.locator(".passkeys li").inner_text()

        # Remove it: the authenticator still holds the key, idgate no longer knows it.
        page.get_by_role("button", name="Remove Laptop", exact=True).click()
        page.wait_for_selector("text=The passkey was removed")
        assert page.is_visible("#no-passkeys")
        _sign_out(page, server.url)
        page.goto(_authorize_link(server.url, app.redirect_uri, challenge))
        page.get_by_role("button", name="Sign in with a passkey", exact=True).click()
        alert = page.wait_for_selector("#passkey-error:visible")
        assert "This passkey was not accepted" in alert.inner_text()
        assert "/interaction/" in page.url
        assert len(b.credentials()) == 1
        assert not b.violations(), b.console
        b.close()


def test_passkey_as_second_factor_and_a_foreign_credential(chromium, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with loopback_app() as app, live(tmp_path / "data") as server:
        register_client(server.deployment, ClientSpec(client_id="photos", name="Photo Album", public=True,
                                                      redirect_uris=[app.redirect_uri], scopes=["openid"],
                                                      skip_consent=True))
        b = Browser(chromium)
        page = b.page
        _sign_in_with_password(page, server.url)
        page.wait_for_selector("#passkeys-title")
        _add_passkey(page, "Phone")
        _sign_out(page, server.url)

        # A password now needs a second factor: the passkey (the only one set up) is offered.
        verifier, challenge = pkce()
        page.goto(_authorize_link(server.url, app.redirect_uri, challenge))
        page.fill("#username", "alice")
        page.fill("#password", GOOD_PASSWORD)
        page.click("form.form button[type=submit]")
        button = page.get_by_role("button", name="Use a passkey", exact=True)
        button.wait_for()
        assert page.query_selector("#otp") is None  # no authenticator app set up: no code field
        page.screenshot(path=str(OUT / "login-passkey-second-factor.png"), full_page=True)
        with page.expect_navigation(url=app.redirect_uri + "*"):
            button.click()
        claims = _id_token(server, app.redirect_uri, verifier, parse_qs(urlsplit(page.url).query)["code"][0])
        assert claims["amr"] == ["pwd", "hwk", "user", "mfa"] and claims["acr"] == "phr"
        assert not b.violations(), b.console
        b.close()

        # Another authenticator holds a key for this site that idgate never registered.
        other = Browser(chromium)
        key = _foreign_resident_key()
        other.cdp.send("WebAuthn.addCredential", {"authenticatorId": other.authenticator, "credential": {
            "credentialId": base64.b64encode(os.urandom(16)).decode(), "isResidentCredential": True,
            "rpId": "localhost", "privateKey": key, "userHandle": base64.b64encode(b"u_unknown").decode(),
            "signCount": 0}})
        other.page.goto(_authorize_link(server.url, app.redirect_uri, challenge))
        other.page.get_by_role("button", name="Sign in with a passkey", exact=True).click()
        alert = other.page.wait_for_selector("#passkey-error:visible")
        assert "This passkey was not accepted" in alert.inner_text()
        assert not other.violations(), other.console
        other.close()


def test_adding_a_passkey_needs_a_recent_sign_in_and_phr_steps_up(chromium, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from idgate.config.loading import load_settings
    from idgate.provider import Provider
    from idgate.store.db import transaction
    from idgate.store.models_oauth import BrowserSession

    with loopback_app() as app, live(tmp_path / "data") as server:
        register_client(server.deployment, ClientSpec(client_id="photos", name="Photo Album", public=True,
                                                      redirect_uris=[app.redirect_uri], scopes=["openid"],
                                                      skip_consent=True))
        b = Browser(chromium, autofill=True)
        page = b.page
        _sign_in_with_password(page, server.url)
        page.wait_for_selector("#passkeys-title")
        # A password-only session: an app that asks for a passkey (acr_values=phr) steps it up.
        verifier, challenge = pkce()
        page.goto(_authorize_link(server.url, app.redirect_uri, challenge, acr_values="phr"))
        page.wait_for_selector("#passkey-required")
        assert page.query_selector("#password") is None  # the password alone cannot satisfy it
        page.screenshot(path=str(OUT / "login-passkey-required.png"), full_page=True)

        # The sign-in is ten minutes old: adding a passkey asks to sign in again first.
        provider = Provider(load_settings(server.deployment.data))
        try:
            with transaction(provider.sessions) as session:
                session.execute(update(BrowserSession).where(BrowserSession.user_id.is_not(None))
                                .values(auth_time=BrowserSession.auth_time - 600))
        finally:
            provider.close()
        page.goto(server.url + "/account")
        page.get_by_role("button", name="Add a passkey", exact=True).click()
        page.wait_for_selector("#password")
        assert "/interaction/" in page.url and page.input_value("#username") == "alice"
        assert b.credentials() == []
        page.fill("#password", GOOD_PASSWORD)
        page.click("form.form button[type=submit]")
        page.wait_for_selector("#passkeys-title")
        _add_passkey(page, "Laptop")
        assert len(b.credentials()) == 1

        # Now the app that wants a passkey gets one, without a password - and without a click:
        # the browser offers the passkey in the username field's autofill (conditional
        # mediation), which the virtual authenticator accepts by itself.
        with page.expect_navigation(url=app.redirect_uri + "*"):
            page.goto(_authorize_link(server.url, app.redirect_uri, challenge, acr_values="phr"))
        claims = _id_token(server, app.redirect_uri, verifier, parse_qs(urlsplit(page.url).query)["code"][0])
        assert claims["acr"] == "phr" and "hwk" in claims["amr"]
        assert not b.violations(), b.console
        b.close()


def _foreign_resident_key() -> str:
    """A P-256 key as the DevTools protocol takes it: PKCS#8 DER, base64."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    der = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return base64.b64encode(der).decode()
