"""The browser pages without a browser: cookie flags, session regeneration, CSRF, CSP, no
password reflection, one error for unknown user and wrong password, the account page."""

from __future__ import annotations

import contextlib
import re
from urllib.parse import urlencode

from fastapi.testclient import TestClient

from idgate.provider import Provider

from oauth_support import auth_params, code_flow, csrf_of, pkce, register
from support import GOOD_PASSWORD

SECRET_WRONG = "a wrong password that is long"


def _browser(app, **kw):  # type: ignore[no-untyped-def]
    """Another browser on the same app. Not entered as a context manager: that would run the
    app's lifespan again, and its shutdown closes the shared provider."""
    return contextlib.closing(TestClient(app, base_url="https://localhost:8443", **kw))


def _login_page(http):  # type: ignore[no-untyped-def]
    register(http.app.state.provider, public=True)
    reply = http.get("/authorize?" + urlencode(auth_params(challenge=pkce()[1])), follow_redirects=False)
    return reply, http.get(reply.headers["location"])


def test_cookie_flags(lite_http) -> None:  # type: ignore[no-untyped-def]
    reply, _ = _login_page(lite_http)
    cookie = reply.headers["set-cookie"]
    assert cookie.startswith("__Host-idgate_session=")
    attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"secure", "httponly", "path"} <= attrs and "domain" not in attrs and "samesite=lax" in cookie.lower()
    assert "Path=/" in cookie


def test_page_headers_and_markup(lite_http) -> None:  # type: ignore[no-untyped-def]
    _, page = _login_page(lite_http)
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "style-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "form-action 'self' https://app.example;" in csp and "unsafe" not in csp
    # The passkey script is a file from idgate itself; it may fetch only from idgate.
    assert "script-src 'self';" in csp and "connect-src 'self';" in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    html = page.text
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", html, re.S)
    assert scripts == [""] and '<script src="/static/passkey.js" defer>' in html  # no inline script
    assert "style=" not in html and "<style" not in html
    assert not re.search(r"\son[a-z]+\s*=", html)  # no inline event handlers
    assert 'autocomplete="username webauthn"' in html and 'autocomplete="current-password"' in html
    assert '<label for="username">' in html and '<label for="password">' in html and '<html lang="en">' in html
    css = lite_http.get("/static/idgate.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert lite_http.get("/static/../pages.py").status_code == 404 and lite_http.get("/static/nope.css").status_code == 404


def test_csrf_token_is_required(http) -> None:  # type: ignore[no-untyped-def]
    reply, page = _login_page(http)
    action = reply.headers["location"] + "/login"
    for token in (None, "", "x" * 43):
        data = {"username": "alice", "password": GOOD_PASSWORD}
        if token is not None:
            data["csrf_token"] = token
        refused = http.post(action, data=data, follow_redirects=False)
        assert refused.status_code == 403 and "location" not in refused.headers
    # Another browser (no cookie) with the right token still fails: the token is tied to the session.
    with _browser(http.app) as other:
        stolen = other.post(action, data={"csrf_token": csrf_of(page.text), "username": "alice",
                                          "password": GOOD_PASSWORD}, follow_redirects=False)
        assert stolen.status_code in (400, 403) and "location" not in stolen.headers
        assert other.get(reply.headers["location"]).status_code == 400  # interaction bound to the browser


def test_wrong_password_and_unknown_user_look_the_same(lite_http) -> None:  # type: ignore[no-untyped-def]
    reply, page = _login_page(lite_http)
    action = reply.headers["location"] + "/login"
    token = csrf_of(page.text)
    wrong = lite_http.post(action, data={"csrf_token": token, "username": "alice", "password": SECRET_WRONG})
    unknown = lite_http.post(action, data={"csrf_token": token, "username": "zed", "password": SECRET_WRONG})
    assert wrong.status_code == unknown.status_code == 401
    assert SECRET_WRONG not in wrong.text and 'role="alert"' in wrong.text and 'aria-invalid="true"' in wrong.text
    assert wrong.text.replace('value="alice"', 'value="zed"') == unknown.text
    assert "password" not in lite_http.get(reply.headers["location"]).url.query.decode()


def test_session_is_regenerated_at_sign_in(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    reply, page = _login_page(http)
    before = http.cookies.get("__Host-idgate_session")
    signed = http.post(reply.headers["location"] + "/login", data={"csrf_token": csrf_of(page.text),
                                                                    "username": "alice", "password": GOOD_PASSWORD},
                       follow_redirects=False)
    assert signed.status_code == 303
    after = http.cookies.get("__Host-idgate_session")
    assert before and after and before != after
    # The pre-login id is dead: a browser still holding it is not signed in.
    with _browser(http.app, cookies={"__Host-idgate_session": before}) as old:
        assert old.get("/account", follow_redirects=False).headers["location"].startswith("/interaction/")


def test_account_page_change_password_and_sessions(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    register(provider, public=True)
    code_flow(http)
    page = http.get("/account")
    assert page.status_code == 200 and "This browser" in page.text and "Signed in as" in page.text
    assert 'autocomplete="new-password"' in page.text
    token = csrf_of(page.text)
    with _browser(http.app) as second:
        code_flow(second)  # a second browser, also signed in
        assert second.get("/account", follow_redirects=False).status_code == 200
        new_password = "an entirely new passphrase 77"
        forged = http.post("/account/password", data={"current_password": GOOD_PASSWORD,
                                                      "new_password": new_password, "confirm_password": new_password})
        assert forged.status_code == 403
        wrong = http.post("/account/password", data={"csrf_token": token, "current_password": SECRET_WRONG,
                                                     "new_password": new_password, "confirm_password": new_password})
        assert wrong.status_code == 400 and "not correct" in wrong.text and new_password not in wrong.text
        mismatch = http.post("/account/password", data={"csrf_token": token, "current_password": GOOD_PASSWORD,
                                                        "new_password": new_password, "confirm_password": "x"})
        assert mismatch.status_code == 400 and "not the same" in mismatch.text
        weak = http.post("/account/password", data={"csrf_token": token, "current_password": GOOD_PASSWORD,
                                                    "new_password": "password", "confirm_password": "password"})
        assert weak.status_code == 400 and 'role="alert"' in weak.text
        done = http.post("/account/password", data={"csrf_token": token, "current_password": GOOD_PASSWORD,
                                                    "new_password": new_password, "confirm_password": new_password})
        assert done.status_code == 200 and "password was changed" in done.text and new_password not in done.text
        # The other browser was signed out; this one was not.
        assert second.get("/account", follow_redirects=False).headers["location"].startswith("/interaction/")
        assert http.get("/account", follow_redirects=False).status_code == 200
    assert http.post("/login", json={"username": "alice", "password": new_password}).status_code == 200


def test_account_ends_app_sessions_and_signs_out(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    from oauth_support import redeem

    register(provider, public=True)
    response, verifier, _ = code_flow(http)
    tokens = redeem(http, response["code"], verifier).json()
    page = http.get("/account")
    match = re.search(r'name="kind" value="app">\s*<input type="hidden" name="id" value="([^"]+)"', page.text)
    assert match, page.text
    ended = http.post("/account/sessions/end", data={"csrf_token": csrf_of(page.text), "kind": "app",
                                                     "id": match.group(1)})
    assert ended.status_code == 200 and "Session ended" in ended.text
    refused = http.post("/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                        "client_id": "webapp"})
    assert refused.status_code == 400
    out = http.post("/account/logout", data={"csrf_token": csrf_of(ended.text)})
    assert out.status_code == 200 and "signed out" in out.text
    assert http.get("/account", follow_redirects=False).headers["location"].startswith("/interaction/")
