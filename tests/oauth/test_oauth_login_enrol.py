"""Setting up two-step verification during the browser sign-in (Keycloak's "Configure OTP"):
a role requires a second factor, the user has none, so after the password the interaction shows
a set-up step (QR code bound to the interaction, key in groups, a code form) instead of issuing
a code; a right first code turns TOTP on and shows the recovery codes once; "Continue" signs
in (amr pwd + otp) and the authorization request goes on (consent, code). The set-up step needs
the password step of the same interaction in the same browser, the session's CSRF token, and
its wrong codes count under the MFA throttle."""

from __future__ import annotations

import contextlib
import time
from typing import Any
from urllib.parse import urlencode

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

from oauth_support import REDIRECT, auth_params, csrf_of, pkce, query_of, redeem, register
from support import GOOD_PASSWORD
from test_oauth_account_mfa import KEY, RECOVERY, _dark_modules

COOKIE = "__Host-idgate_session"
CAROL_PASSWORD = GOOD_PASSWORD + " zebra"


def _browser(app: Any) -> Any:
    """Another browser on the same app (not entered: that would run the lifespan again)."""
    from fastapi.testclient import TestClient

    return contextlib.closing(TestClient(app, base_url="https://localhost:8443"))


def _require_mfa(provider: Provider, role: str = "staff") -> None:
    with transaction(provider.sessions) as session:
        mfa.set_role_requires_mfa(session, session.scalars(select(Role).where(Role.name == role)).one(), True)


def _code(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def _wrong(secret: str) -> str:
    return "000000" if _code(secret) != "000000" and _code(secret, -1) != "000000" and _code(secret, 1) != "000000" \
        else "111111"


def _start(http: Any, **extra: str) -> tuple[str, str, str]:
    """/authorize -> the login page: (interaction URL, its CSRF token, the PKCE verifier)."""
    verifier, challenge = pkce()
    reply = http.get("/authorize?" + urlencode(auth_params(challenge=challenge, **extra)), follow_redirects=False)
    assert reply.status_code == 303, reply.text
    interaction = reply.headers["location"]
    page = http.get(interaction)
    assert 'name="password"' in page.text
    return interaction, csrf_of(page.text), verifier


def _password(http: Any, interaction: str, token: str, username: str = "alice",
              password: str = GOOD_PASSWORD) -> tuple[str, Any]:
    """The password step: the set-up page and the key it shows."""
    step = http.post(interaction + "/login", data={"csrf_token": token, "username": username, "password": password},
                     follow_redirects=False)
    assert step.status_code == 200, step.text
    found = KEY.search(step.text)
    assert found, step.text
    return found.group(1).replace(" ", ""), step


def test_enrol_during_sign_in_then_continue_to_the_app(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    register(provider, public=True)
    _require_mfa(provider)
    alice = mfa.user_id_of(provider, "alice")
    interaction, token, verifier = _start(http)
    cookie_before = http.cookies.get(COOKIE)

    # The password: no code, no sign-in; the set-up step of this interaction instead.
    secret, setup = _password(http, interaction, token)
    html = setup.text
    assert setup.headers["cache-control"] == "no-store" and "location" not in setup.headers
    csp = setup.headers["content-security-policy"]
    assert "img-src 'self'" in csp and "default-src 'none'" in csp and "unsafe" not in csp
    assert "<script" not in html and "style=" not in html and "<style" not in html and "otpauth:" not in html
    assert GOOD_PASSWORD not in html and 'name="password"' not in html
    assert f'<img class="qr" src="{interaction}/mfa/qr.svg"' in html and 'alt="QR code' in html
    assert f'action="{interaction}/mfa/confirm"' in html and 'name="csrf_token"' in html
    assert '<label for="otp">' in html and 'autocomplete="one-time-code"' in html and 'inputmode="numeric"' in html
    assert len(secret) == 32 and secret not in interaction
    assert mfa.status(provider, alice).totp == "pending"
    assert http.cookies.get(COOKIE) == cookie_before  # not signed in
    assert http.get("/account", follow_redirects=False).headers["location"].startswith("/interaction/")

    # Reloading the interaction shows the same step and key: the password is not asked again.
    again = http.get(interaction, follow_redirects=False)
    assert again.status_code == 200 and secret in again.text.replace(" ", "") and 'name="password"' not in again.text

    # The QR code: this interaction's pending enrolment, drawn as an SVG image, never cached.
    qr = http.get(interaction + "/mfa/qr.svg")
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/svg+xml"
    assert qr.headers["cache-control"] == "no-store" and qr.headers["cross-origin-resource-policy"] == "same-origin"
    assert "<script" not in qr.text and "style" not in qr.text
    uri = totp.provisioning_uri(secret, "alice", provider.settings.mfa_issuer_label)
    expected = segno.make(uri, error="m")
    assert _dark_modules(qr.text) == {(x, y) for y, row in enumerate(expected.matrix_iter(border=4))
                                      for x, dark in enumerate(row) if dark}

    # A wrong first code: refused and announced; the same key to try again.
    wrong = _wrong(secret)
    refused = http.post(interaction + "/mfa/confirm", data={"csrf_token": token, "otp": wrong})
    assert refused.status_code == 400 and 'role="alert"' in refused.text and 'aria-invalid="true"' in refused.text
    assert 'aria-describedby="otp-hint form-error"' in refused.text and secret in refused.text.replace(" ", "")
    empty = http.post(interaction + "/mfa/confirm", data={"csrf_token": token, "otp": " "})
    assert empty.status_code == 400 and 'role="alert"' in empty.text

    # The right one: TOTP is on, the recovery codes once (no-store), and "Continue".
    done = http.post(interaction + "/mfa/confirm", data={"csrf_token": token, "otp": _code(secret)})
    assert done.status_code == 200 and done.headers["cache-control"] == "no-store"
    codes = RECOVERY.findall(done.text)
    assert len(codes) == 10 == len(set(codes)) and "shown only now" in done.text
    assert f'action="{interaction}/mfa/continue"' in done.text and ">Continue</button>" in done.text
    assert "form-action 'self' https://app.example" in done.headers["content-security-policy"]
    assert mfa.status(provider, alice).totp == "active"
    assert http.get(interaction + "/mfa/qr.svg").status_code == 404  # nothing pending any more
    shown_again = http.get(interaction)  # a reload: "Continue" again, the codes not again
    assert shown_again.status_code == 200 and ">Continue</button>" in shown_again.text
    assert not RECOVERY.findall(shown_again.text)
    assert http.cookies.get(COOKIE) == cookie_before  # still not signed in until Continue

    # Continue: signed in (a new session), then consent as usual, then the code.
    signed = http.post(interaction + "/mfa/continue", data={"csrf_token": token}, follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == interaction
    assert http.cookies.get(COOKIE) != cookie_before
    consent = http.get(interaction)
    assert 'value="allow"' in consent.text
    allowed = http.post(interaction + "/consent", data={"csrf_token": csrf_of(consent.text), "decision": "allow"},
                        follow_redirects=False)
    back = http.get(allowed.headers["location"], follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"].startswith(REDIRECT), back.text
    tokens = redeem(http, query_of(back.headers["location"])["code"], verifier).json()
    for name in ("id_token", "access_token"):
        claims = pyjwt.decode(tokens[name], options={"verify_signature": False})
        assert claims["amr"] == ["pwd", "otp"], (name, claims)
    assert http.post(interaction + "/mfa/continue", data={"csrf_token": csrf_of(consent.text)}).status_code == 400

    # Next sign-in (another browser): the password, then the ordinary code step.
    with _browser(http.app) as later:
        second, token2, verifier2 = _start(later)
        step = later.post(second + "/login", data={"csrf_token": token2, "username": "alice",
                                                   "password": GOOD_PASSWORD})
        assert step.status_code == 200 and f'action="{second}/otp"' in step.text and "totp-key" not in step.text
        ok = later.post(second + "/otp", data={"csrf_token": token2, "otp": _code(secret, +1)},
                        follow_redirects=False)
        assert ok.status_code == 303, ok.text
        back2 = later.get(ok.headers["location"], follow_redirects=False)
        assert back2.headers["location"].startswith(REDIRECT), back2.text  # consent was given before
        tokens2 = redeem(later, query_of(back2.headers["location"])["code"], verifier2).json()
        assert "otp" in pyjwt.decode(tokens2["id_token"], options={"verify_signature": False})["amr"]

    # The MFA steps are alice's security events, with no secret, code or password in them.
    with transaction(provider.sessions) as session:
        rows = [(e.kind, e.outcome, e.actor, e.detail or "") for e in session.scalars(select(Event))]
    mine = {(kind, outcome) for kind, outcome, actor, _ in rows if actor == alice}
    assert {("login.success", "success"), ("mfa.totp.enrolled", "success"), ("mfa.totp.confirm", "failure"),
            ("mfa.totp.confirmed", "success"), ("mfa.success", "success")} <= mine, mine
    for *_, detail in rows:
        assert secret not in detail.upper() and GOOD_PASSWORD not in detail and not any(c in detail for c in codes)


def _carol(provider: Provider) -> str:
    """carol: role staff (which requires a second factor), nothing set up."""
    view = accounts.add_user(provider.sessions, "carol", CAROL_PASSWORD, roles=["staff"])
    _require_mfa(provider)
    return view.id


def test_set_up_step_needs_this_interactions_password_step(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    http = lite_http
    register(lite, public=True, skip_consent=True)
    carol = _carol(lite)

    # A fresh interaction (no password given in it): nothing to confirm, continue or show.
    fresh, token, _verifier = _start(http)
    for path, data in (("/mfa/confirm", {"otp": "123456"}), ("/mfa/continue", {})):
        refused = http.post(fresh + path, data={"csrf_token": token, **data}, follow_redirects=False)
        assert refused.status_code == 400 and 'role="alert"' in refused.text and 'name="password"' in refused.text
    assert http.get(fresh + "/mfa/qr.svg").status_code == 404
    assert mfa.status(lite, carol).totp == "none"

    # carol passes the password in her own browser: the set-up step of her interaction.
    with _browser(http.app) as other:
        theirs, their_token, _v = _start(other)
        secret, _page = _password(other, theirs, their_token, "carol", CAROL_PASSWORD)
        # Without the session's CSRF token: refused.
        for bad in ({}, {"csrf_token": their_token[:-1] + ("A" if their_token[-1] != "A" else "B")}):
            assert other.post(theirs + "/mfa/confirm", data={**bad, "otp": _code(secret)}).status_code == 403
            assert other.post(theirs + "/mfa/continue", data={**bad, "go": "1"},
                              follow_redirects=False).status_code == 403
        # From this (another) browser, even with its own valid CSRF token: refused, no QR code.
        assert http.get(theirs + "/mfa/qr.svg").status_code == 404
        stolen = http.post(theirs + "/mfa/confirm", data={"csrf_token": token, "otp": _code(secret)})
        assert stolen.status_code == 400 and "opened in another browser" in stolen.text
        assert http.post(theirs + "/mfa/continue", data={"csrf_token": token}).status_code == 400
        # Another interaction of carol's own browser, without its password step: refused too.
        other_one, _t, _v2 = _start(other)
        assert other.get(other_one + "/mfa/qr.svg").status_code == 404
        refused = other.post(other_one + "/mfa/confirm", data={"csrf_token": their_token, "otp": _code(secret)})
        assert refused.status_code == 400 and 'name="password"' in refused.text
        assert mfa.status(lite, carol).totp == "pending"
        # Continue before a right code: not signed in, no code for the app.
        early = other.post(theirs + "/mfa/continue", data={"csrf_token": their_token}, follow_redirects=False)
        assert early.status_code == 400 and 'name="password"' in early.text
        assert other.get(theirs + "/mfa/qr.svg").status_code == 200  # her own step goes on
        done = other.post(theirs + "/mfa/confirm", data={"csrf_token": their_token, "otp": _code(secret)})
        assert done.status_code == 200 and len(RECOVERY.findall(done.text)) == 10
        on = other.post(theirs + "/mfa/continue", data={"csrf_token": their_token}, follow_redirects=False)
        assert on.status_code == 303
        back = other.get(on.headers["location"], follow_redirects=False)
        assert back.status_code == 303 and back.headers["location"].startswith(REDIRECT)


def test_wrong_first_codes_are_throttled(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    http = lite_http
    register(lite, public=True, skip_consent=True)
    carol = _carol(lite)
    interaction, token, _verifier = _start(http)
    secret, _page = _password(http, interaction, token, "carol", CAROL_PASSWORD)
    wrong = _wrong(secret)
    free = lite.settings.throttle_mfa_free
    statuses = [http.post(interaction + "/mfa/confirm", data={"csrf_token": token, "otp": wrong}).status_code
                for _ in range(free + 1)]
    assert statuses == [400] * (free + 1)  # the free ones, then one that starts the back-off
    held = http.post(interaction + "/mfa/confirm", data={"csrf_token": token, "otp": _code(secret)})
    assert held.status_code == 429 and int(held.headers["retry-after"]) >= 1
    assert 'role="alert"' in held.text and "Too many attempts" in held.text and "totp-key" in held.text
    assert mfa.status(lite, carol).totp == "pending"
    with transaction(lite.sessions) as session:
        kinds = [e.kind for e in session.scalars(select(Event).where(Event.actor == carol))]
    assert kinds.count("mfa.totp.confirm") >= free and "mfa.throttled" in kinds


def test_enrol_when_signing_in_to_the_account_page(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    http = lite_http
    carol = _carol(lite)
    start = http.get("/account", follow_redirects=False)
    interaction = start.headers["location"]
    page = http.get(interaction)
    token = csrf_of(page.text)
    secret, setup = _password(http, interaction, token, "carol", CAROL_PASSWORD)
    assert "to continue to" not in setup.text
    done = http.post(interaction + "/mfa/confirm", data={"csrf_token": token, "otp": _code(secret)})
    assert done.status_code == 200 and "form-action 'self';" in done.headers["content-security-policy"]
    on = http.post(interaction + "/mfa/continue", data={"csrf_token": token})  # follows to /account
    assert on.status_code == 200 and str(on.url).endswith("/account") and "badge on" in on.text
    assert mfa.status(lite, carol).totp == "active"


def test_set_up_gets_time_to_install_an_app(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    """The interaction's clock started at /authorize; a right password that leads to the set-up
    step gives it at least ENROL_WINDOW from then on."""
    from datetime import timedelta

    from sqlalchemy import update

    from idgate import clock
    from idgate.services.interaction_mfa import ENROL_WINDOW
    from idgate.store.models_oauth import Interaction

    http = lite_http
    register(lite, public=True, skip_consent=True)
    _carol(lite)
    interaction, token, _verifier = _start(http)
    with transaction(lite.sessions) as session:  # as if the user took 9 of the 10 minutes to get here
        session.execute(update(Interaction).values(expires_at=clock.utcnow() + timedelta(seconds=60)))
    secret, _page = _password(http, interaction, token, "carol", CAROL_PASSWORD)
    with transaction(lite.sessions) as session:
        left = (session.scalars(select(Interaction.expires_at)).one() - clock.utcnow()).total_seconds()
    assert ENROL_WINDOW - 30 < left <= ENROL_WINDOW
    done = http.post(interaction + "/mfa/confirm", data={"csrf_token": token, "otp": _code(secret)})
    assert done.status_code == 200
