"""POST /login: the rules of the first-party password login, one test per rule."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from fastapi.testclient import TestClient

from idgate.provider import Provider
from idgate.rs import Verifier

from support import GOOD_PASSWORD, login


def _header(token: str) -> dict:
    seg = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))


def test_login_returns_a_signed_rfc9068_access_token(client: TestClient, provider: Provider) -> None:
    reply = login(client)
    assert reply.status_code == 200, reply.text
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["pragma"] == "no-cache"
    body = reply.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert set(body["scope"].split()) == {"things:read", "things:write"}
    header = _header(body["access_token"])
    assert header == {"alg": "ES256", "kid": provider.keyring().active.kid, "typ": "at+jwt"}
    claims = Verifier(issuer=provider.settings.issuer, audience=provider.settings.issuer,
                      jwks=provider.keyring().public_jwks()).verify(body["access_token"])
    assert claims["sub"].startswith("u_") and claims["sub"] != "alice"
    assert claims["preferred_username"] == "alice"
    assert claims["roles"] == ["staff"] and claims["permissions"] == ["things:read", "things:write"]
    assert claims["exp"] - claims["iat"] == 900 and claims["nbf"] == claims["iat"]
    assert claims["client_id"] and claims["jti"]
    assert "email" not in claims and "name" not in claims  # personal data stays at /userinfo by default


def test_form_body_works_too(client: TestClient) -> None:
    reply = client.post("/login", data={"username": "alice", "password": GOOD_PASSWORD})
    assert reply.status_code == 200, reply.text


def test_username_is_case_insensitive(client: TestClient) -> None:
    assert login(client, username="ALICE").status_code == 200


def test_unknown_user_and_wrong_password_get_the_same_reply(client: TestClient) -> None:
    wrong = login(client, password="not the password at all")
    unknown = login(client, username="mallory")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.content == unknown.content
    assert wrong.json() == {"error": "invalid_grant", "error_description": "Invalid username or password."}
    drop = {"x-request-id", "content-length", "date"}
    assert {k: v for k, v in wrong.headers.items() if k not in drop} == \
        {k: v for k, v in unknown.headers.items() if k not in drop}


def test_disabled_user_gets_the_same_reply(client: TestClient, provider: Provider) -> None:
    from idgate.services import accounts

    accounts.set_disabled(provider.sessions, "alice", True)
    assert login(client).content == login(client, username="nobody").content


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_login_refuses_other_methods(client: TestClient, method: str) -> None:
    reply = client.request(method, "/login")
    assert reply.status_code == 405


def test_credentials_in_query_string_are_refused_and_not_logged(client: TestClient,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    reply = client.post(f"/login?username=alice&password={GOOD_PASSWORD.replace(' ', '+')}",
                        json={"username": "alice", "password": GOOD_PASSWORD})
    assert reply.status_code == 400
    assert "URL" in reply.json()["error_description"]
    assert client.get("/login?password=hunter2hunter2").status_code == 400
    for name in ("client_secret", "refresh_token", "access_token", "device_token", "code_verifier"):
        assert client.get(f"/userinfo?{name}=x").status_code == 400, name
    server_logs = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert "horse" not in server_logs and "hunter2" not in server_logs


def test_oversized_body_is_413(client: TestClient) -> None:
    big = {"username": "alice", "password": "x" * 20_000}
    assert client.post("/login", json=big).status_code == 413

    def chunks():  # no Content-Length: the limit must hold while streaming too
        yield b'{"username": "alice", "password": "'
        for _ in range(100):
            yield b"y" * 1000
        yield b'"}'

    reply = client.post("/login", content=chunks(), headers={"content-type": "application/json"})
    assert reply.status_code == 413


@pytest.mark.parametrize("ctype", ["text/plain", "multipart/form-data; boundary=x", "application/xml", ""])
def test_other_content_types_are_415(client: TestClient, ctype: str) -> None:
    reply = client.post("/login", content=b"username=alice", headers={"content-type": ctype} if ctype else {})
    assert reply.status_code == 415


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"alice"', b"\xff\xfe", b'{"username": "a", "username": "b", "password": "x"}',
                                  b'{"username": ["alice"], "password": "x"}', b'{"username": "alice"}', b"{}"])
def test_malformed_json_is_400(client: TestClient, body: bytes) -> None:
    reply = client.post("/login", content=body, headers={"content-type": "application/json"})
    assert reply.status_code == 400
    assert reply.json()["error"] == "invalid_request"


def test_duplicate_form_parameters_are_400(client: TestClient) -> None:
    reply = client.post("/login", content=b"username=alice&username=bob&password=x",
                        headers={"content-type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 400


def test_scope_narrows_and_unknown_scope_is_refused(client: TestClient) -> None:
    assert login(client, scope="things:read").json()["scope"] == "things:read"
    reply = login(client, scope="things:read admin")
    assert reply.status_code == 400 and reply.json()["error"] == "invalid_scope"


def test_audience_must_be_allowed(client: TestClient) -> None:
    reply = login(client, audience="https://evil.example")
    assert reply.status_code == 400 and reply.json()["error"] == "invalid_target"


def test_every_response_has_security_headers(client: TestClient) -> None:
    for reply in (client.get("/healthz"), client.get("/nope"), login(client, password="wrong password here"),
                  client.get("/jwks.json")):
        h = reply.headers
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in h["content-security-policy"]
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert h["x-frame-options"] == "DENY"
        assert h["strict-transport-security"].startswith("max-age=")
        assert "server" not in h


def test_password_never_reaches_logs_or_database(client: TestClient, provider: Provider,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = login(client).json()["access_token"]
    login(client, password="wrong but long password 1")
    assert GOOD_PASSWORD not in caplog.text and "wrong but long" not in caplog.text and token not in caplog.text
    if provider.engine.dialect.name == "sqlite":
        provider.engine.dispose()
        db_file = provider.settings.data_dir / "idgate.db"
        blob = b"".join(p.read_bytes() for p in db_file.parent.glob("idgate.db*"))
        assert GOOD_PASSWORD.encode() not in blob and token.encode() not in blob
        assert b"$argon2id$" in blob


def test_rehash_on_login_when_parameters_change(client: TestClient, provider: Provider) -> None:
    import bcrypt

    from idgate.store import users
    from idgate.store.db import transaction

    legacy = bcrypt.hashpw(GOOD_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    with transaction(provider.sessions) as s:
        users.set_password_hash(s, users.require_by_username(s, "alice"), legacy, changed=False)
    assert login(client).status_code == 200
    with transaction(provider.sessions) as s:
        assert users.require_by_username(s, "alice").password_hash.startswith("$argon2id$")
    assert login(client).status_code == 200


def test_the_login_view_reads_what_the_orm_view_reads(provider: Provider) -> None:
    """users.view_by_id (plain queries, the login hot path) == users.view (mapped objects)."""
    from idgate.services import accounts
    from idgate.store import users
    from idgate.store.db import transaction

    made = accounts.add_user(provider.sessions, "dora", GOOD_PASSWORD, roles=["staff", "ops"],
                             permissions=["things:read", "extra:write"], email="dora@example.com", name="Dora")
    bare = accounts.add_user(provider.sessions, "eve", GOOD_PASSWORD)
    with transaction(provider.sessions) as session:
        for user_id in (made.id, bare.id):
            assert users.view_by_id(session, user_id) == users.view(users.get(session, user_id))
        assert users.view_by_id(session, "no-such-user") is None


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), [
    ("POST", "/login", {"json": {"username": "al\x00ice", "password": GOOD_PASSWORD}}, 400),
    ("POST", "/login", {"data": {"username": "alice", "password": "pass\x00word-long-enough"}}, 400),
    ("POST", "/token", {"data": {"grant_type": "client_credentials", "client_id": "s\x00vc", "client_secret": "x"}}, 400),
    ("POST", "/token", {"data": {"grant_type": "refresh_token", "refresh_token": "igr_\x00"}}, 400),
    ("POST", "/token", {"data": {"grant_type": "client_credentials"}, "auth": ("s\x00vc", "x")}, 401),
    ("POST", "/introspect", {"data": {"token": "x"}, "auth": ("s\x00vc", "x")}, 401),
    ("POST", "/revoke", {"data": {"token": "t\x00"}}, 400),
    ("GET", "/authorize?client_id=a%00b&response_type=code", {}, 400),
    ("GET", "/admin/users/a%00b", {}, 400),
])
def test_a_nul_character_is_a_4xx_never_a_500(client: TestClient, method: str, path: str, kwargs: dict,  # type: ignore[type-arg]
                                              status: int) -> None:
    """No database column takes a NUL (PostgreSQL refuses it with an error, which was a 500): the
    form and JSON reader, the Basic credentials parser and the URL check refuse it first."""
    reply = client.request(method, path, **kwargs)
    assert reply.status_code == status, reply.text
    assert "NUL" in reply.json().get("error_description", "") or reply.json()["error"] == "invalid_client"


@pytest.mark.parametrize("declared", [b"\xb2", b"1\xb9", b"abc", b"-1", b" 5"])
@pytest.mark.parametrize("path", ["/login", "/token"])
def test_a_malformed_content_length_is_a_400_never_a_500(client: TestClient, path: str, declared: bytes) -> None:
    """Servers with llhttp refuse these before the app; the app must refuse them too (a Latin-1
    superscript digit passed str.isdigit() and then failed int(), a 500 before this test)."""
    import asyncio

    body = b"grant_type=client_credentials"
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "https",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"localhost:8443"), (b"content-type", b"application/x-www-form-urlencoded"),
                         (b"content-length", declared)],
             "client": ("127.0.0.1", 5555), "server": ("127.0.0.1", 8443), "state": {}}
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    asyncio.run(client.app(scope, receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 400, sent[:1]
    assert b"Content-Length" in sent[1]["body"]  # type: ignore[operator]
