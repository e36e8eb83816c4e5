"""The device authorization grant (RFC 8628) in-process: the device asks for a code pair (§3.1-3.2),
polls (§3.4-3.5: authorization_pending, slow_down, expired_token, access_denied, single use),
and the user signs in at /device, sees which app asks for what with the phishing warning
(§5.4), and allows or denies. Guessing user codes is throttled (§5.1); every form needs the
session's CSRF token; the sign-in comes back to the code the user was entering."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import jwt as pyjwt
import pytest
from sqlalchemy import update

from idgate import clock
from idgate.provider import Provider
from idgate.services import device_flow
from idgate.services.device_flow import DEVICE_GRANT, USER_CODE_ALPHABET, display, normalise_user_code
from idgate.store.db import transaction
from idgate.store.models import Event
from idgate.store.models_device import DeviceAuthorization

from oauth_support import csrf_of, register
from support import GOOD_PASSWORD

CODE_SHOWN = re.compile(r'class="device-code">([A-Z]{4}-[A-Z]{4})<')


def _words(html: str) -> str:
    return " ".join(html.split())


def _tv(provider: Provider, client_id: str = "tv", **kw: Any) -> None:
    kw.setdefault("public", True)
    register(provider, client_id, grant_types=kw.pop("grant_types", [DEVICE_GRANT, "refresh_token"]),
             redirect_uris=[], name=kw.pop("name", "Living-room TV"), **kw)


def _start(http: Any, client_id: str = "tv", **extra: str) -> dict[str, Any]:
    reply = http.post("/device_authorization", data={"client_id": client_id, "scope": "openid profile things:read",
                                                     **extra})
    assert reply.status_code == 200, reply.text
    assert reply.headers["cache-control"] == "no-store"
    return dict(reply.json())


def _poll(http: Any, device_code: str, client_id: str = "tv", **extra: Any) -> Any:
    return http.post("/token", data={"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": client_id},
                     **extra)


def _wait_interval(provider: Provider, device_code: str) -> None:
    """As if the device waited its interval: move the last poll back in the database."""
    from idgate import ids

    with transaction(provider.sessions) as session:
        row = session.get(DeviceAuthorization, ids.token_hash(device_code))
        assert row is not None
        if row.last_polled_at is not None:
            row.last_polled_at -= timedelta(seconds=row.interval)


def _sign_in_at(http: Any, url: str, username: str = "alice") -> Any:
    """Not signed in: /device sends the browser through the sign-in and back; returns the page."""
    reply = http.get(url, follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"].startswith("/interaction/"), reply.text
    interaction = reply.headers["location"]
    page = http.get(interaction)
    reply = http.post(interaction + "/login", data={"csrf_token": csrf_of(page.text), "username": username,
                                                    "password": GOOD_PASSWORD}, follow_redirects=False)
    assert reply.status_code == 303, reply.text
    reply = http.get(reply.headers["location"], follow_redirects=False)
    assert reply.status_code == 303, reply.text
    back = reply.headers["location"]
    assert back.startswith("/device"), back
    return http.get(back)


def _decide(http: Any, page: Any, decision: str = "allow") -> Any:
    code = re.search(r'name="user_code" value="([A-Z]{8})"', page.text)
    assert code, page.text
    return http.post("/device/confirm", data={"csrf_token": csrf_of(page.text), "user_code": code.group(1),
                                              "decision": decision})


def test_device_signs_in_after_the_user_allows_it(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    _tv(provider)
    started = _start(http)
    assert set(started) == {"device_code", "user_code", "verification_uri", "verification_uri_complete",
                            "expires_in", "interval"}
    assert started["verification_uri"] == "https://localhost:8443/device"
    assert started["expires_in"] == 600 and started["interval"] == 5
    user_code = started["user_code"]
    assert re.fullmatch(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}", user_code)
    raw = user_code.replace("-", "")
    assert started["verification_uri_complete"] == f"https://localhost:8443/device?user_code={raw}"

    pending = _poll(http, started["device_code"])
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"
    assert pending.headers["cache-control"] == "no-store"
    too_fast = _poll(http, started["device_code"])  # §3.5: at once again, inside the 5 s interval
    assert too_fast.status_code == 400 and too_fast.json()["error"] == "slow_down"

    page = _sign_in_at(http, started["verification_uri_complete"].removeprefix("https://localhost:8443"))
    assert page.status_code == 200
    assert "Living-room TV" in page.text and CODE_SHOWN.search(page.text).group(1) == user_code  # type: ignore[union-attr]
    assert "If someone sent you this link or code, deny" in _words(page.text)  # §5.4, remote phishing
    assert "with the permission “things:read”" in page.text and "Signed in as <strong>alice</strong>" in page.text
    done = _decide(http, page)
    assert done.status_code == 200 and "Device connected" in done.text

    _wait_interval(provider, started["device_code"])
    tokens = _poll(http, started["device_code"])
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "openid profile things:read" and body["refresh_token"]
    key = provider.keyring().public_jwks()["keys"][0]
    claims = pyjwt.decode(body["id_token"], pyjwt.PyJWK(key).key, algorithms=["ES256"], audience="tv",
                          issuer="https://localhost:8443")
    assert claims["amr"] == ["pwd"] and abs(claims["auth_time"] - clock.now()) < 60 and "nonce" not in claims
    access = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert access["client_id"] == "tv" and access["sub"] == claims["sub"]

    again = _poll(http, started["device_code"])  # single use
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    refreshed = http.post("/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                                          "client_id": "tv"})
    assert refreshed.status_code == 200, refreshed.text
    with transaction(provider.sessions) as session:
        kinds = {e.kind for e in session.query(Event).all()}
    assert {"device.started", "device.approved"} <= kinds


def test_denied_expired_and_other_clients_codes(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    provider, http = lite, lite_http
    _tv(provider)
    _tv(provider, "radio", name="Radio")
    denied = _start(http)
    page = _sign_in_at(http, "/device?user_code=" + denied["user_code"].replace("-", ""))
    reply = _decide(http, page, "deny")
    assert reply.status_code == 200 and "Request denied" in reply.text
    refused = _poll(http, denied["device_code"])
    assert refused.status_code == 400 and refused.json()["error"] == "access_denied"
    answered = _decide(http, page)  # already answered: no second decision
    assert answered.status_code == 400 and "already answered" in answered.text

    other = _start(http)
    stolen = _poll(http, other["device_code"], client_id="radio")  # another client's device code
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    assert _poll(http, "igd_" + "x" * 40).json()["error"] == "invalid_grant"

    with transaction(provider.sessions) as session:  # ten minutes later
        session.execute(update(DeviceAuthorization).values(expires_at=clock.utcnow() - timedelta(seconds=1)))
    expired = _poll(http, other["device_code"])
    assert expired.status_code == 400 and expired.json()["error"] == "expired_token"
    late = http.get("/device?user_code=" + other["user_code"].replace("-", ""))
    assert late.status_code == 400 and "not valid or has expired" in late.text


def test_clients_and_parameters_are_checked(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    provider, http = lite, lite_http
    register(provider, "webapp", public=True)  # the code grant only
    _, secret = register(provider, "kiosk", public=False, grant_types=[DEVICE_GRANT], redirect_uris=[],
                         scopes=["openid things:read"])
    _tv(provider)
    unauthorized = http.post("/device_authorization", data={"client_id": "webapp"})
    assert unauthorized.status_code == 400 and unauthorized.json()["error"] == "unauthorized_client"
    assert http.post("/device_authorization", data={"scope": "openid"}).status_code == 400
    unknown = http.post("/device_authorization", data={"client_id": "nobody"})
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_client"
    no_secret = http.post("/device_authorization", data={"client_id": "kiosk"})
    assert no_secret.status_code == 401 and no_secret.json()["error"] == "invalid_client"
    kiosk = http.post("/device_authorization", data={"scope": "things:read"}, auth=("kiosk", secret))
    assert kiosk.status_code == 200, kiosk.text
    assert _poll(http, kiosk.json()["device_code"], client_id="kiosk").status_code == 401  # no secret at /token
    pending = http.post("/token", data={"grant_type": DEVICE_GRANT, "device_code": kiosk.json()["device_code"]},
                        auth=("kiosk", secret))
    assert pending.json()["error"] == "authorization_pending"

    too_much = http.post("/device_authorization", data={"client_id": "tv", "scope": "openid admin"})
    assert too_much.status_code == 400 and too_much.json()["error"] == "invalid_scope"
    target = http.post("/device_authorization", data={"client_id": "tv", "resource": "https://elsewhere.example"})
    assert target.status_code == 400 and target.json()["error"] == "invalid_target"
    assert http.get("/device_authorization").status_code == 405
    missing = http.post("/token", data={"grant_type": DEVICE_GRANT, "client_id": "tv"})
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    huge = _poll(http, "igd_" + "a" * 500)
    assert huge.status_code == 400 and huge.json()["error"] == "invalid_request"
    wrong_grant = http.post("/token", data={"grant_type": DEVICE_GRANT, "client_id": "webapp", "device_code": "x"})
    assert wrong_grant.json()["error"] == "unauthorized_client"

    discovery = http.get("/.well-known/openid-configuration").json()
    assert discovery["device_authorization_endpoint"] == "https://localhost:8443/device_authorization"
    assert DEVICE_GRANT in discovery["grant_types_supported"]


def test_the_code_form_needs_csrf_is_forgiving_and_throttles_guesses(lite: Provider, lite_http) -> None:  # type: ignore[no-untyped-def]
    provider, http = lite, lite_http
    _tv(provider)
    started = _start(http)
    page = _sign_in_at(http, "/device")
    assert page.status_code == 200 and 'name="user_code"' in page.text and "Never enter a code that someone sent" \
        in _words(page.text)
    token = csrf_of(page.text)
    assert http.post("/device", data={"user_code": started["user_code"]}).status_code == 403
    assert http.post("/device", data={"user_code": started["user_code"], "csrf_token": "x" * 43}).status_code == 403
    typed = " " + started["user_code"].lower().replace("-", " ") + " "  # case, spaces and dashes do not matter
    confirm = http.post("/device", data={"user_code": typed, "csrf_token": token})
    assert confirm.status_code == 200 and "Allow this device?" in confirm.text
    forged = http.post("/device/confirm", data={"user_code": started["user_code"].replace("-", ""),
                                                "decision": "allow"})
    assert forged.status_code == 403  # no CSRF token: nothing decided
    assert _poll(http, started["device_code"]).json()["error"] == "authorization_pending"

    statuses = []
    for _ in range(40):
        guess = http.post("/device", data={"user_code": "BBBB-BBBB", "csrf_token": token})
        statuses.append(guess.status_code)
        if guess.status_code == 429:
            assert int(guess.headers["retry-after"]) >= 1 and "Too many wrong codes" in guess.text
            break
    assert statuses[0] == 400 and statuses[-1] == 429, statuses
    right = http.post("/device", data={"user_code": started["user_code"], "csrf_token": token})
    assert right.status_code == 429  # even the right code waits: no oracle while throttled


def test_user_codes_are_unambiguous_and_device_codes_are_stored_hashed(lite: Provider) -> None:
    assert not set("AEIOUY01") & set(USER_CODE_ALPHABET) and len(set(USER_CODE_ALPHABET)) == 20
    assert normalise_user_code("bcdf-ghjk") == "BCDFGHJK" and display("BCDFGHJK") == "BCDF-GHJK"
    for bad in ("", "BCDF-GHJ", "BCDF-GHJKL", "ABCD-EFGH", "BCDF-GHJ1", "Б" * 8, "B" * 100):
        assert normalise_user_code(bad) is None, bad
    register(lite, "tv", public=True, grant_types=[DEVICE_GRANT], redirect_uris=[])
    from idgate.services.clients.registry import get_client

    with transaction(lite.sessions) as session:
        client = get_client(session, "tv")
    assert client is not None
    codes = {device_flow.start(lite, client, {}).user_code for _ in range(30)}
    assert len(codes) == 30 and all(set(c) <= set(USER_CODE_ALPHABET) and len(c) == 8 for c in codes)
    first = device_flow.start(lite, client, {})
    with transaction(lite.sessions) as session:
        stored = [r.device_code_hash for r in session.query(DeviceAuthorization).all()]
    assert first.device_code not in stored and len(first.device_code) >= 40


def test_the_sign_in_return_is_never_an_open_redirect() -> None:
    from types import SimpleNamespace

    from idgate.server.interactions import account_return

    def row(params: str) -> Any:
        return SimpleNamespace(kind="account", params=params)

    assert account_return(row('{"return": "/device?user_code=BCDFGHJK"}')) == "/device?user_code=BCDFGHJK"
    for evil in ('{"return": "https://evil.example/"}', '{"return": "//evil.example"}',
                 '{"return": "/device//evil.example"}', '{"return": "/\\\\evil"}', '{"return": 5}', "not json", "[]"):
        assert account_return(row(evil)) == "/account", evil


@pytest.mark.parametrize("path", ["/device", "/device?user_code=BCDFGHJK"])
def test_not_signed_in_the_page_asks_for_a_sign_in_first(lite_http, path: str) -> None:  # type: ignore[no-untyped-def]
    reply = lite_http.get(path, follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"].startswith("/interaction/")
    posted = lite_http.post("/device/confirm", data={"user_code": "BCDFGHJK", "decision": "allow"},
                            follow_redirects=False)
    assert posted.status_code == 303 and posted.headers["location"].startswith("/interaction/")
