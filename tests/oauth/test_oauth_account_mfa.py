"""Two-step verification on the account page (issue 5), without a browser: start an enrolment
with the session's CSRF token, the QR code as a same-origin SVG image of the session user's
pending enrolment (it encodes the otpauth URI of the key shown for typing; the key is in no
URL), confirm with a first code (wrong codes refused and throttled), recovery codes shown once,
then a fresh sign-in asks for the code and the tokens say amr "otp"; removal and new recovery
codes need a code, and removal is refused while a role requires a second factor."""

from __future__ import annotations

import contextlib
import re
import time
from urllib.parse import urlencode
from xml.etree import ElementTree

import jwt as pyjwt
import pyotp
import segno
from sqlalchemy import select

from idgate.mfa import service as mfa
from idgate.mfa import totp
from idgate.provider import Provider
from idgate.services import accounts
from idgate.store.db import transaction
from idgate.store.models import Event, Role

from oauth_support import REDIRECT, auth_params, code_flow, csrf_of, pkce, query_of, redeem, register
from support import GOOD_PASSWORD, login

KEY = re.compile(r'class="totp-key"[^>]*>([A-Z2-7 ]+)<')
RECOVERY = re.compile(r"<code>([a-z2-7]{4}(?:-[a-z2-7]{4}){3})</code>")
URL_ATTR = re.compile(r'(?:href|src|action)="([^"]*)"')
SVG_NS = "{http://www.w3.org/2000/svg}"


def _browser(app):  # type: ignore[no-untyped-def]
    """Another browser on the same app (not entered: that would run the lifespan again)."""
    from fastapi.testclient import TestClient

    return contextlib.closing(TestClient(app, base_url="https://localhost:8443"))


def _signed_in(http) -> str:  # type: ignore[no-untyped-def]
    """Sign the browser in (authorization code flow); the account page's CSRF token."""
    register(http.app.state.provider, public=True)
    code_flow(http)
    page = http.get("/account")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def _urls(reply) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(reply.url), reply.headers.get("location", ""), *URL_ATTR.findall(reply.text)]


def _start(http, token: str) -> tuple[str, object]:  # type: ignore[no-untyped-def]
    """Start an enrolment; the key shown on the set-up page, and that page."""
    started = http.post("/account/mfa/totp", data={"csrf_token": token}, follow_redirects=False)
    assert started.status_code == 303 and started.headers["location"] == "/account/mfa/totp"
    page = http.get("/account/mfa/totp")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    found = KEY.search(page.text)
    assert found, page.text
    secret = found.group(1).replace(" ", "")
    assert len(secret) == 32 and found.group(1).count(" ") == 7  # in groups of four for typing
    for url in _urls(started) + _urls(page):
        assert secret not in url.upper().replace("%20", ""), url
    return secret, page


def _dark_modules(svg: str) -> set[tuple[int, int]]:
    """The dark modules drawn by segno's single-path SVG ("M4 4.5h7m1 0h1...", one unit a module)."""
    root = ElementTree.fromstring(svg)
    assert root.tag == SVG_NS + "svg"
    paths = root.findall(SVG_NS + "path")
    assert len(paths) == 1 and paths[0].get("transform") == "scale(4)"
    dark: set[tuple[int, int]] = set()
    x = y = 0.0
    for op, a, b in re.findall(r"([MmHh])\s*(-?[\d.]+)(?:[ ,](-?[\d.]+))?", paths[0].get("d", "")):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            end = float(a) if op == "H" else x + float(a)
            dark.update((int(col), int(y)) for col in range(int(x), int(end)))
            x = end
    return dark


def _code(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def _enrol(http, token: str) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    secret, _page = _start(http, token)
    done = http.post("/account/mfa/totp/confirm", data={"csrf_token": token, "otp": _code(secret)})
    assert done.status_code == 200, done.text
    codes = RECOVERY.findall(done.text)
    assert len(codes) == 10, done.text
    return secret, codes


def test_enrol_on_the_account_page_then_sign_in_with_a_code(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    token = _signed_in(http)
    page = http.get("/account")
    assert 'aria-labelledby="mfa-title"' in page.text and "Set up authenticator app" in page.text
    assert "badge off" in page.text and http.get("/account/mfa/qr.svg").status_code == 404  # nothing pending

    # The form needs the session's CSRF token: nothing is enrolled without it.
    assert http.post("/account/mfa/totp", data={"otp": ""}, follow_redirects=False).status_code == 403
    assert http.post("/account/mfa/totp", data={"csrf_token": "x" * 43}, follow_redirects=False).status_code == 403
    assert mfa.status(provider, mfa.user_id_of(provider, "alice")).totp == "none"

    secret, setup = _start(http, token)
    html = setup.text
    csp = setup.headers["content-security-policy"]
    assert "img-src 'self'" in csp and "default-src 'none'" in csp and "unsafe" not in csp
    assert "<script" not in html and "style=" not in html and "<style" not in html and "otpauth:" not in html
    assert '<img class="qr" src="/account/mfa/qr.svg"' in html and 'alt="QR code' in html
    assert 'autocomplete="one-time-code"' in html and 'inputmode="numeric"' in html and '<label for="otp">' in html

    # The QR code: an SVG image, never cached, with nothing a CSP could block, that draws the
    # otpauth URI of the key shown.
    qr = http.get("/account/mfa/qr.svg")
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/svg+xml"
    assert qr.headers["cache-control"] == "no-store" and qr.headers["x-content-type-options"] == "nosniff"
    assert qr.headers["cross-origin-resource-policy"] == "same-origin"
    assert "style" not in qr.text and "<script" not in qr.text and "href" not in qr.text
    uri = totp.provisioning_uri(secret, "alice", provider.settings.mfa_issuer_label)
    assert uri.startswith("otpauth://totp/idgate:alice?secret=" + secret)
    expected = segno.make(uri, error="m")
    drawn = {(x, y) for y, row in enumerate(expected.matrix_iter(border=4)) for x, dark in enumerate(row) if dark}
    assert _dark_modules(qr.text) == drawn

    # A wrong first code: refused, announced, the set-up page again; the CSRF token is required.
    wrong = "000000" if _code(secret) != "000000" else "111111"
    refused = http.post("/account/mfa/totp/confirm", data={"csrf_token": token, "otp": wrong})
    assert refused.status_code == 400 and 'role="alert"' in refused.text and 'aria-invalid="true"' in refused.text
    assert 'aria-describedby="otp-hint form-error"' in refused.text and wrong not in refused.text
    assert secret in refused.text.replace(" ", "")  # the same key, to try again
    assert http.post("/account/mfa/totp/confirm", data={"otp": _code(secret)}).status_code == 403
    assert http.post("/account/mfa/totp/confirm", data={"csrf_token": token[:-1], "otp": _code(secret)}
                     ).status_code == 403
    assert mfa.status(provider, mfa.user_id_of(provider, "alice")).totp == "pending"

    done = http.post("/account/mfa/totp/confirm", data={"csrf_token": token, "otp": _code(secret)})
    assert done.status_code == 200 and done.headers["cache-control"] == "no-store"
    codes = RECOVERY.findall(done.text)
    assert len(codes) == 10 == len(set(codes)) and "shown only now" in done.text
    account = http.get("/account")
    assert "badge on" in account.text and "10 of 10 recovery codes left" in account.text
    assert not any(code in account.text for code in codes) and secret not in account.text.replace(" ", "")
    assert http.get("/account/mfa/qr.svg").status_code == 404  # active: no QR code any more
    assert http.get("/account/mfa/totp").status_code == 200  # the account page: nothing in progress

    # A fresh browser: the password, then the code; the tokens say amr ["pwd", "otp"].
    with _browser(http.app) as fresh:
        verifier, challenge = pkce()
        start = fresh.get("/authorize?" + urlencode(auth_params(challenge=challenge)), follow_redirects=False)
        interaction = start.headers["location"]
        login_page = fresh.get(interaction)
        step = fresh.post(interaction + "/login", data={"csrf_token": csrf_of(login_page.text), "username": "alice",
                                                        "password": GOOD_PASSWORD})
        assert step.status_code == 200 and 'autocomplete="one-time-code"' in step.text
        ok = fresh.post(interaction + "/otp", data={"csrf_token": csrf_of(step.text), "otp": _code(secret, +1)},
                        follow_redirects=False)
        assert ok.status_code == 303, ok.text
        back = fresh.get(ok.headers["location"], follow_redirects=False)  # consent was given before
        assert back.status_code == 303 and back.headers["location"].startswith(REDIRECT), back.text
        tokens = redeem(fresh, query_of(back.headers["location"])["code"], verifier).json()
        for name in ("id_token", "access_token"):
            assert "otp" in pyjwt.decode(tokens[name], options={"verify_signature": False})["amr"], name


def test_remove_needs_a_code_and_csrf(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    http = lite_http
    token = _signed_in(http)
    secret, codes = _enrol(http, token)
    page = http.get("/account")
    assert 'action="/account/mfa/totp/remove"' in page.text and 'for="remove_otp"' in page.text
    assert http.post("/account/mfa/totp/remove", data={"otp": codes[0]}).status_code == 403
    for wrong in ("000000", "aaaa-bbbb-cccc-dddd", ""):
        refused = http.post("/account/mfa/totp/remove", data={"csrf_token": token, "otp": wrong})
        assert refused.status_code == 400 and 'role="alert"' in refused.text, wrong
        assert 'id="remove_otp"' in refused.text and re.search(r'id="remove_otp"[^>]*aria-invalid="true"',
                                                                refused.text)
    assert mfa.status(lite, mfa.user_id_of(lite, "alice")).totp == "active"
    removed = http.post("/account/mfa/totp/remove", data={"csrf_token": token, "otp": codes[0]})
    assert removed.status_code == 200 and "Two-step verification is off" in removed.text
    assert mfa.status(lite, mfa.user_id_of(lite, "alice")).totp == "none"
    assert login(http).status_code == 200  # the password alone again
    # Each step is a security event of alice's, with no secret or code in it.
    with transaction(lite.sessions) as session:
        rows = [(e.kind, e.outcome, e.actor, e.detail or "") for e in session.scalars(select(Event))]
    alice = mfa.user_id_of(lite, "alice")
    mine = {(kind, outcome) for kind, outcome, actor, _ in rows if actor == alice}
    assert {("mfa.totp.enrolled", "success"), ("mfa.totp.confirmed", "success"), ("mfa.failure", "failure"),
            ("mfa.success", "success"), ("mfa.totp.removed", "success")} <= mine, mine
    for *_, detail in rows:
        assert secret not in detail and not any(code in detail for code in codes)


def test_new_recovery_codes_and_a_role_that_requires_mfa(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    token = _signed_in(http)
    _secret, codes = _enrol(http, token)
    refused = http.post("/account/mfa/recovery-codes", data={"csrf_token": token, "otp": "000000"})
    assert refused.status_code == 400 and 'role="alert"' in refused.text
    assert re.search(r'id="regenerate_otp"[^>]*aria-invalid="true"', refused.text)
    assert http.post("/account/mfa/recovery-codes", data={"otp": codes[0]}).status_code == 403
    fresh = http.post("/account/mfa/recovery-codes", data={"csrf_token": token, "otp": codes[0]})
    assert fresh.status_code == 200 and fresh.headers["cache-control"] == "no-store"
    new_codes = RECOVERY.findall(fresh.text)
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)

    with transaction(provider.sessions) as session:
        staff = session.scalars(select(Role).where(Role.name == "staff")).one()
        mfa.set_role_requires_mfa(session, staff, True)
    page = http.get("/account")
    assert "Your role requires two-step verification" in page.text
    assert 'action="/account/mfa/totp/remove"' not in page.text
    kept = http.post("/account/mfa/totp/remove", data={"csrf_token": token, "otp": new_codes[0]})
    assert kept.status_code == 403 and 'role="alert"' in kept.text and "cannot be removed" in kept.text
    state = mfa.status(provider, mfa.user_id_of(provider, "alice"))
    assert state.totp == "active" and state.recovery_codes_left == 10  # the code was not spent
    # The JSON API says the same.
    bearer = login(http, otp=new_codes[1]).json()["access_token"]
    api = http.post("/mfa/totp/remove", json={"otp": new_codes[2]}, headers={"Authorization": f"Bearer {bearer}"})
    assert api.status_code == 403 and api.json()["error"] == "access_denied"
    assert mfa.status(provider, mfa.user_id_of(provider, "alice")).totp == "active"


def test_first_codes_are_throttled(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    http = lite_http
    token = _signed_in(http)
    secret, _page = _start(http, token)
    wrong = "000000" if _code(secret) != "000000" else "111111"
    free = lite.settings.throttle_mfa_free
    statuses = [http.post("/account/mfa/totp/confirm", data={"csrf_token": token, "otp": wrong}).status_code
                for _ in range(free + 1)]
    assert statuses == [400] * (free + 1)  # the free ones, then one that starts the back-off
    held = http.post("/account/mfa/totp/confirm", data={"csrf_token": token, "otp": _code(secret)})
    assert held.status_code == 429 and int(held.headers["retry-after"]) >= 1
    assert 'role="alert"' in held.text and "Too many attempts" in held.text
    assert mfa.status(lite, mfa.user_id_of(lite, "alice")).totp == "pending"


def test_another_users_pending_enrolment_is_not_visible(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    http = lite_http
    accounts.add_user(lite.sessions, "bob", GOOD_PASSWORD + " bob")
    bob = mfa.enroll_totp(lite, mfa.user_id_of(lite, "bob"))
    with _browser(http.app) as anonymous:
        assert anonymous.get("/account/mfa/qr.svg").status_code == 404
        assert anonymous.get("/account/mfa/totp", follow_redirects=False).headers["location"].startswith(
            "/interaction/")
    token = _signed_in(http)
    assert http.get("/account/mfa/qr.svg").status_code == 404  # alice has nothing pending; bob's is not hers
    nothing = http.get("/account/mfa/totp")
    assert "no set-up in progress" in nothing.text and bob.secret not in nothing.text.replace(" ", "")
    refused = http.post("/account/mfa/totp/confirm", data={"csrf_token": token, "otp": _code(bob.secret)})
    assert refused.status_code == 400 and 'role="alert"' in refused.text
    assert mfa.status(lite, mfa.user_id_of(lite, "bob")).totp == "pending"
    secret, _page = _start(http, token)
    assert secret != bob.secret and http.get("/account/mfa/qr.svg").text != bob.qr_svg
