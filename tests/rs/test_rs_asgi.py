"""BearerAuthMiddleware and require_scope: RFC 6750 §2.1 and §3 on the wire."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from rs_support import forge, header_for, claims, signing_key, token, verifier
from starlette.responses import JSONResponse

from idgate.errors import ConfigError
from idgate.rs import BearerAuthMiddleware, require_scope

REALM = 'Bearer realm="idgate"'
INVALID = 'Bearer realm="idgate", error="invalid_token", error_description="The access token is invalid."'


async def echo_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    response = JSONResponse({"claims": scope.get("idgate.claims"), "path": scope["path"]})
    await response(scope, receive, send)


def client(**options: Any) -> TestClient:
    return TestClient(BearerAuthMiddleware(echo_app, verifier(), **options))


def auth(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def test_valid_token_reaches_the_app_with_claims() -> None:
    r = client().get("/things", headers=auth(token()))
    assert r.status_code == 200
    assert r.json()["claims"] == claims()


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_scheme_is_case_insensitive(scheme: str) -> None:
    assert client().get("/", headers={"Authorization": f"{scheme} {token()}"}).status_code == 200


def test_missing_token_gets_a_bare_challenge() -> None:
    r = client().get("/things")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == REALM  # RFC 6750 §3.1: no error code
    assert r.json()["error"] == "invalid_token"
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("value", ["Basic dXNlcjpwYXNz", "Digest x", "Token abc", "Bearerx.y.z", ""])
def test_other_schemes_count_as_no_bearer_token(value: str) -> None:
    r = client().get("/", headers={"Authorization": value})
    assert (r.status_code, r.headers["www-authenticate"]) == (401, REALM)


@pytest.mark.parametrize(
    "value", ["Bearer", "Bearer ", "Bearer a b", "Bearer a,b", 'Bearer "quoted"', "Bearer x.y.z", "Bearer ===", "Bearer a\tb"]
)
def test_bad_tokens_get_invalid_token(value: str) -> None:
    r = client().get("/", headers={"Authorization": value})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == INVALID
    assert r.json() == {"error": "invalid_token", "error_description": "The access token is invalid."}


def test_expired_token_says_so_without_revealing_more() -> None:
    r = client().get("/", headers=auth(token(exp=claims()["iat"] - 100, iat=claims()["iat"] - 1000)))
    assert r.status_code == 401
    assert 'error_description="The access token expired."' in r.headers["www-authenticate"]


def test_token_in_the_query_string_is_refused() -> None:
    r = client().get("/", params={"access_token": token()}, headers=auth(token()))
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"
    assert 'error="invalid_request"' in r.headers["www-authenticate"]


def test_two_authorization_headers_are_refused() -> None:
    headers = [("Authorization", f"Bearer {token()}"), ("Authorization", f"Bearer {token()}")]
    r = client().get("/", headers=headers)
    assert r.status_code == 400


def test_exempt_paths_pass_without_a_token() -> None:
    r = client(exempt_paths=["/health"]).get("/health")
    assert r.status_code == 200
    assert r.json()["claims"] is None
    assert client(exempt_paths=["/health"]).get("/health/x").status_code == 401


def test_custom_realm_and_lifespan_passthrough() -> None:
    with TestClient(BearerAuthMiddleware(echo_app, verifier(), realm="things api")) as c:
        assert c.get("/").headers["www-authenticate"] == 'Bearer realm="things api"'


def test_websocket_without_a_token_is_closed() -> None:
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect):
        with client().websocket_connect("/ws"):
            pass


# --- require_scope -----------------------------------------------------------------------------


def make_app(*, middleware: bool, pass_verifier: bool) -> FastAPI:
    v = verifier()
    app = FastAPI()
    app.state.idgate_verifier = v
    if middleware:
        app.add_middleware(BearerAuthMiddleware, verifier=v, exempt_paths=["/public"])
    dep = require_scope("things:read", verifier=v if pass_verifier else None)

    @app.get("/things")
    def things(c: dict[str, Any] = Depends(dep)) -> dict[str, Any]:
        return {"sub": c["sub"]}

    @app.get("/admin")
    def admin(c: dict[str, Any] = Depends(require_scope("things:admin"))) -> dict[str, Any]:
        return {"sub": c["sub"]}

    @app.get("/public")
    def public(request: Request) -> dict[str, str]:
        return {"ok": "yes"}

    return app


@pytest.mark.parametrize(("middleware", "pass_verifier"), [(True, False), (False, False), (False, True)])
def test_require_scope(middleware: bool, pass_verifier: bool) -> None:
    c = TestClient(make_app(middleware=middleware, pass_verifier=pass_verifier))
    assert c.get("/public").status_code == 200
    ok = c.get("/things", headers=auth(token()))
    assert (ok.status_code, ok.json()) == (200, {"sub": claims()["sub"]})

    missing = c.get("/things")
    assert (missing.status_code, missing.headers["www-authenticate"]) == (401, REALM)

    bad = c.get("/things", headers=auth(token()[:-4] + "AAAA"))
    assert (bad.status_code, bad.headers["www-authenticate"]) == (401, INVALID)

    denied = c.get("/admin", headers=auth(token()))
    assert denied.status_code == 403
    assert denied.headers["www-authenticate"] == (
        'Bearer realm="idgate", error="insufficient_scope", '
        'error_description="The access token does not carry the required scope.", scope="things:admin"'
    )
    no_scope = c.get("/things", headers=auth(token(scope="things:write other")))
    assert no_scope.status_code == 403
    prefix = c.get("/things", headers=auth(token(scope="things:readonly")))
    assert prefix.status_code == 403


def test_require_scope_without_a_verifier_is_a_configuration_error() -> None:
    app = FastAPI()

    @app.get("/x")
    def x(c: dict[str, Any] = Depends(require_scope("a"))) -> dict[str, Any]:
        return c

    with pytest.raises(ConfigError):
        TestClient(app).get("/x", headers=auth(token()))


@pytest.mark.parametrize("scope", ["", "a b"])
def test_require_scope_takes_one_scope_token(scope: str) -> None:
    with pytest.raises(ConfigError):
        require_scope(scope)


def test_forged_token_through_the_whole_stack() -> None:
    c = TestClient(make_app(middleware=True, pass_verifier=False))
    tok = forge(header_for(alg="none"), claims(), signature=b"")
    assert c.get("/things", headers=auth(tok)).status_code == 401
    other = signing_key("ES256", 5)
    assert c.get("/things", headers=auth(token(other))).status_code == 401
