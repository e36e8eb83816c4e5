"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0) in-process, against a real
loopback HTTP endpoint: which endings tell which apps (sign-out, a browser or app session ended
on the account page or by an admin, a password change, a disabled user), the logout token's
claims (§2.4), delivery with a timeout and retries that give up and say so (§2.5, §2.8), one
delivery per row on several workers, and the client metadata rules (§2.2)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import jwt as pyjwt
import pytest
from sqlalchemy import select, update

from idgate import clock, ids
from idgate.errors import InvalidRequest
from idgate.provider import Provider
from idgate.services import accounts
from idgate.services.backchannel_logout import LOGOUT_EVENT, deliver_due
from idgate.store import backchannel as outbox
from idgate.store.db import transaction
from idgate.store.models import Event
from idgate.store.models_backchannel import LogoutDelivery

from oauth_support import auth_params, csrf_of, pkce, query_of, redeem, register, sign_in_and_consent


class Endpoint:
    """An app's back-channel logout endpoint: records each POST; answers from ``replies``
    (status codes, then 200), after ``delay`` seconds."""

    def __init__(self) -> None:
        self.received: list[dict[str, str]] = []
        self.replies: list[int] = []
        self.delay = 0.0
        self.url = ""


@contextmanager
def endpoint() -> Iterator[Endpoint]:
    ep = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            time.sleep(ep.delay)
            ep.received.append({"content_type": self.headers.get("Content-Type", ""),
                                **{k: v[0] for k, v in parse_qs(body).items()}})
            self.send_response(ep.replies.pop(0) if ep.replies else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ep.url = f"http://127.0.0.1:{server.server_address[1]}/backchannel"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ep
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _no_background_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests deliver by calling deliver_due themselves; the app's background task (tested
    with a real server in test_oauth_node.py) stays asleep so it cannot race them."""
    from idgate.services import backchannel_logout

    monkeypatch.setattr(backchannel_logout, "POLL_INTERVAL", 3600.0)


@pytest.fixture
def ep() -> Iterator[Endpoint]:
    with endpoint() as e:
        yield e


def _app(provider: Provider, ep: Endpoint, client_id: str = "bc", **kw: Any) -> None:
    register(provider, client_id, public=True, backchannel_logout_uri=ep.url, **kw)


def _signed_in_to(http: Any, client_id: str = "bc") -> dict[str, Any]:
    """Code flow to an ID token; its claims."""
    verifier, challenge = pkce()
    reply = sign_in_and_consent(http, auth_params(client_id, challenge))
    tokens = redeem(http, query_of(reply.headers["location"])["code"], verifier, client_id=client_id)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    return {**pyjwt.decode(body["id_token"], options={"verify_signature": False}), "_tokens": body}


def _deliver(provider: Provider) -> int:
    return deliver_due(provider)


def _pending(provider: Provider) -> list[LogoutDelivery]:
    with transaction(provider.sessions) as session:
        rows = list(session.scalars(select(LogoutDelivery).order_by(LogoutDelivery.id)))
        session.expunge_all()
        return rows


def _make_due(provider: Provider) -> None:
    with transaction(provider.sessions) as session:
        session.execute(update(LogoutDelivery).values(next_attempt_at=clock.utcnow() - timedelta(seconds=1)))


def _account_logout(http: Any) -> None:
    page = http.get("/account")
    assert http.post("/account/logout", data={"csrf_token": csrf_of(page.text)}).status_code == 200


def test_sign_out_sends_a_logout_token_to_each_app_of_the_session(provider: Provider, http, ep: Endpoint) -> None:  # type: ignore[no-untyped-def]
    _app(provider, ep)
    _app(provider, ep, "bc2")
    register(provider, "quiet", public=True)  # no back-channel URI: not told
    first = _signed_in_to(http)
    second = _signed_in_to(http, "bc2")
    _signed_in_to(http, "quiet")
    assert first["sid"] == second["sid"]
    _account_logout(http)
    assert len(_pending(provider)) == 2 and ep.received == []  # the sign-out did not call the apps
    assert _deliver(provider) == 2
    by_aud = {}
    key = provider.keyring().public_jwks()["keys"][0]
    for posted in ep.received:
        assert posted["content_type"] == "application/x-www-form-urlencoded"
        token = posted["logout_token"]
        header = pyjwt.get_unverified_header(token)
        claims = pyjwt.decode(token, pyjwt.PyJWK(key).key, algorithms=[header["alg"]],
                              audience=pyjwt.decode(token, options={"verify_signature": False})["aud"],
                              issuer="https://localhost:8443")
        assert header["typ"] == "logout+jwt" and header["kid"] == key["kid"]
        assert claims["events"] == {LOGOUT_EVENT: {}} and "nonce" not in claims
        assert claims["sid"] == first["sid"] and claims["sub"] == first["sub"] and claims["exp"] - claims["iat"] == 120
        by_aud[claims["aud"]] = claims["jti"]
    assert set(by_aud) == {"bc", "bc2"} and len(set(by_aud.values())) == 2
    assert all(r.status == "delivered" and r.attempts == 1 for r in _pending(provider))
    assert _deliver(provider) == 0  # delivered once
    with transaction(provider.sessions) as session:
        kinds = [e.kind for e in session.scalars(select(Event).where(Event.kind.like("backchannel.%")))]
    assert kinds == ["backchannel.delivered", "backchannel.delivered"]


def test_retries_back_off_then_give_up(lite: Provider, lite_http, ep: Endpoint) -> None:  # type: ignore[no-untyped-def]
    provider, http = lite, lite_http
    _app(provider, ep)
    _signed_in_to(http)
    _account_logout(http)
    ep.replies = [500, 503]
    assert _deliver(provider) == 0
    row = _pending(provider)[0]
    assert row.status == "pending" and row.attempts == 1 and row.last_error == "HTTP 500"
    wait = (row.next_attempt_at - clock.utcnow()).total_seconds()
    assert 8 < wait <= 10  # backchannel_logout_retry: 10 s, then 20, 40...
    assert _deliver(provider) == 0 and len(ep.received) == 1  # not due yet: not sent again
    _make_due(provider)
    assert _deliver(provider) == 0
    row = _pending(provider)[0]
    assert row.attempts == 2 and 18 < (row.next_attempt_at - clock.utcnow()).total_seconds() <= 20
    _make_due(provider)
    assert _deliver(provider) == 1 and len(ep.received) == 3
    assert ep.received[0]["logout_token"] != ep.received[2]["logout_token"]  # signed afresh for each try

    _signed_in_to(http)
    _account_logout(http)
    ep.replies = [500] * 10
    for _ in range(provider.settings.backchannel_logout_attempts):
        _make_due(provider)
        _deliver(provider)
    last = _pending(provider)[-1]
    assert last.status == "failed" and last.attempts == provider.settings.backchannel_logout_attempts
    with transaction(provider.sessions) as session:
        failed = session.scalars(select(Event).where(Event.kind == "backchannel.failed")).all()
    assert len(failed) == 1 and failed[0].client_id == "bc" and failed[0].outcome == "failure"


def test_a_slow_app_times_out_and_never_holds_up_the_sign_out(tmp_path, ep: Endpoint) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from idgate.config.loading import load_settings
    from idgate.server.app import create_app

    from support import GOOD_PASSWORD, init_deployment_fast

    deployment = init_deployment_fast(tmp_path / "slow")
    provider = Provider(load_settings(deployment.data, {"backchannel_logout_timeout": 1}))
    try:
        accounts.add_user(provider.sessions, "alice", GOOD_PASSWORD, permissions=["things:read"])
        _app(provider, ep)
        with TestClient(create_app(provider), base_url="https://localhost:8443") as http:
            _signed_in_to(http)
            ep.delay = 3.0
            started = time.monotonic()
            _account_logout(http)
            assert time.monotonic() - started < 1.0  # nothing waits on the app
            started = time.monotonic()
            assert _deliver(provider) == 0
            assert time.monotonic() - started < 2.5  # the 1 s timeout, not the app's 3 s
            assert "ReadTimeout" in (_pending(provider)[0].last_error or "")
    finally:
        provider.close()


def test_endings_that_tell_the_apps(lite: Provider, lite_http, ep: Endpoint) -> None:  # type: ignore[no-untyped-def]
    from idgate.services import admin
    from idgate.store import tokens as token_rows

    provider, http = lite, lite_http
    _app(provider, ep, grant_types=["authorization_code", "refresh_token"])
    # An admin ends the app's session (refresh tokens): that app is told, with the sid.
    first = _signed_in_to(http)
    with transaction(provider.sessions) as session:
        login_id = token_rows.find(session, ids.token_hash(first["_tokens"]["refresh_token"])).session_id
    admin.end_session(provider, login_id, actor="test")
    assert [(r.sid, r.sub) for r in _pending(provider)] == [(first["sid"], first["sub"])]
    # Ending it twice, or signing out afterwards, sends nothing more.
    _account_logout(http)
    assert len(_pending(provider)) == 1
    # A disabled user: every session's apps.
    second = _signed_in_to(http)
    accounts.set_disabled(provider.sessions, "alice", True, actor="test")
    assert [(r.sid, r.client_id) for r in _pending(provider)][1:] == [(second["sid"], "bc")]
    accounts.set_disabled(provider.sessions, "alice", False, actor="test")
    # The account page ends one browser session: its apps are told.
    third = _signed_in_to(http)
    page = http.get("/account")
    ended = http.post("/account/sessions/end", data={"csrf_token": csrf_of(page.text), "kind": "browser",
                                                     "id": third["sid"]})
    assert ended.status_code in (200, 303)
    assert _pending(provider)[-1].sid == third["sid"]


def test_a_device_flow_session_is_named_by_sub_unless_the_app_needs_sid(lite: Provider, lite_http, ep: Endpoint) -> None:  # type: ignore[no-untyped-def]
    from idgate.services.device_flow import DEVICE_GRANT

    provider = lite
    register(provider, "tv", public=True, grant_types=[DEVICE_GRANT, "refresh_token"], redirect_uris=[],
             backchannel_logout_uri=ep.url)
    register(provider, "tv2", public=True, grant_types=[DEVICE_GRANT, "refresh_token"], redirect_uris=[],
             backchannel_logout_uri=ep.url, backchannel_logout_session_required=True)
    from idgate.services.clients.registry import get_client
    from idgate.services import device_flow
    from idgate.store import users

    with transaction(provider.sessions) as session:
        user = users.view(users.require_by_username(session, "alice"))
        clients = [get_client(session, c) for c in ("tv", "tv2")]
    for client in clients:
        assert client is not None
        started = device_flow.start(provider, client, {})
        device_flow.decide(provider, started.user_code, user, auth_time=clock.now(), amr="pwd", approve=True)
        device_flow.poll(provider, client, started.device_code)
    accounts.set_disabled(provider.sessions, "alice", True, actor="test")
    assert [(r.client_id, r.sid, r.sub) for r in _pending(provider)] == [("tv", None, user.id)]


def test_one_delivery_per_row_with_several_workers(lite: Provider, lite_http, ep: Endpoint) -> None:  # type: ignore[no-untyped-def]
    provider, http = lite, lite_http
    _app(provider, ep)
    _signed_in_to(http)
    _account_logout(http)
    with transaction(provider.sessions) as session:
        first = outbox.claim_due(session, clock.utcnow(), timedelta(seconds=30))
        second = outbox.claim_due(session, clock.utcnow(), timedelta(seconds=30))
    assert len(first) == 1 and second == []
    assert _deliver(provider) == 0  # leased to the first caller


@pytest.mark.parametrize("uri", ["javascript:alert(1)", "http://app.example/bc", "https://*.example/bc",
                                 "https://app.example/bc#x", "com.example.app:/bc", "relative/bc"])
def test_bad_backchannel_uris_are_refused(lite: Provider, uri: str) -> None:
    with pytest.raises(InvalidRequest):
        register(lite, "bad", public=True, backchannel_logout_uri=uri)


def test_metadata_discovery_and_admin_api(lite: Provider, lite_http, ep: Endpoint) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidRequest):
        register(lite, "x", public=True, backchannel_logout_session_required=True)  # no URI to send to
    client, _ = register(lite, "ok", public=True, backchannel_logout_uri="https://app.example/bc",
                         backchannel_logout_session_required=True)
    assert client.as_dict()["backchannel_logout_uri"] == "https://app.example/bc"
    assert client.as_dict()["backchannel_logout_session_required"] is True
    meta = lite_http.get("/.well-known/openid-configuration").json()
    assert meta["backchannel_logout_supported"] is True and meta["backchannel_logout_session_supported"] is True
    assert "sid" in meta["claims_supported"]


def test_the_sid_of_an_id_token_is_the_sign_in_session(lite: Provider, lite_http, ep: Endpoint) -> None:  # type: ignore[no-untyped-def]
    _app(lite, ep)
    first = _signed_in_to(lite_http)
    _account_logout(lite_http)
    again = _signed_in_to(lite_http)
    assert first["sid"] != again["sid"]  # a new sign-in is a new session
