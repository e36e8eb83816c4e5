"""The browser sign-in with a second factor (issue 5's TOTP): password, then the code, never the
password twice; the ID token then says amr ["pwd", "otp"] and acr "2"."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import jwt as pyjwt

from idgate.mfa import service as mfa
from idgate.mfa import totp
from idgate.provider import Provider

from oauth_support import REDIRECT, auth_params, csrf_of, pkce, query_of, redeem, register
from support import GOOD_PASSWORD


def test_sign_in_with_a_one_time_code(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    http = lite_http
    register(lite, public=True, skip_consent=True)
    secret = mfa.enroll_totp(lite, mfa.user_id_of(lite, "alice"), confirmed=True).secret
    verifier, challenge = pkce()
    start = http.get("/authorize?" + urlencode(auth_params(challenge=challenge)), follow_redirects=False)
    interaction = start.headers["location"]
    page = http.get(interaction)
    step = http.post(interaction + "/login", data={"csrf_token": csrf_of(page.text), "username": "alice",
                                                   "password": GOOD_PASSWORD})
    assert step.status_code == 200 and 'autocomplete="one-time-code"' in step.text
    assert GOOD_PASSWORD not in step.text and 'name="password"' not in step.text
    token = csrf_of(step.text)
    wrong = http.post(interaction + "/otp", data={"csrf_token": token, "otp": "000000"})
    assert wrong.status_code == 401 and 'role="alert"' in wrong.text
    assert http.post(interaction + "/otp", data={"otp": "123456"}).status_code == 403  # CSRF still required
    code = totp.code_at(secret, totp.current_step(time.time()))
    done = http.post(interaction + "/otp", data={"csrf_token": token, "otp": code}, follow_redirects=False)
    assert done.status_code == 303
    back = http.get(done.headers["location"], follow_redirects=False)
    assert back.headers["location"].startswith(REDIRECT)
    result = query_of(back.headers["location"])
    tokens = redeem(http, result["code"], verifier).json()
    claims = pyjwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["amr"] == ["pwd", "otp"] and claims["acr"] == "2"
    # the grant remembers how the user signed in: refreshed access tokens still say pwd + otp
    refreshed = http.post("/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                          "client_id": "webapp"})
    assert refreshed.status_code == 200, refreshed.text
    assert pyjwt.decode(refreshed.json()["access_token"], options={"verify_signature": False})["amr"] == ["pwd", "otp"]
