"""Plain routes (server/routing.py): served past FastAPI's per-request machinery, with the same
replies - errors through the application's handlers, the unexpected as a bare 500, every
protection of the middleware stack (security headers, request id) still applied."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from idgate.errors import InvalidRequest
from idgate.provider import Provider
from idgate.server.app import create_app
from idgate.server.routing import PlainRoute

seen: list[dict[str, Any]] = []


async def _echo(request: Request) -> JSONResponse:
    seen.append(dict(request.scope))
    if request.query_params.get("fail") == "oauth":
        raise InvalidRequest("The probe asked for an error.")
    if request.query_params.get("fail") == "bug":
        raise RuntimeError("internal detail that must not leak")
    return JSONResponse({"ok": True})


async def _crash() -> JSONResponse:
    raise RuntimeError("internal detail that must not leak")


@pytest.fixture
def probe(provider: Provider) -> Iterator[TestClient]:
    app = create_app(provider)
    app.router.routes.insert(0, PlainRoute("/probe", _echo, methods=["POST"]))
    app.add_api_route("/crash", _crash, methods=["GET"])  # an ordinary FastAPI route
    seen.clear()
    with TestClient(app, base_url="https://localhost:8443", raise_server_exceptions=False) as client:
        yield client


def test_a_plain_route_takes_the_request_alone() -> None:
    async def two(request: Request, extra: int) -> JSONResponse:
        return JSONResponse({})

    async def dependent(request: Request) -> JSONResponse:
        return JSONResponse({})

    with pytest.raises(TypeError, match="Request alone"):
        PlainRoute("/x", two, methods=["POST"])
    with pytest.raises(TypeError, match="Request alone"):
        PlainRoute("/x", dependent, methods=["POST"], dependencies=[Depends(lambda: None)])


def test_a_plain_route_is_reached_past_the_router_with_every_protection(probe: TestClient) -> None:
    reply = probe.post("/probe", headers={"X-Request-ID": "probe-1"})
    assert reply.status_code == 200 and reply.json() == {"ok": True}
    assert reply.headers["x-request-id"] == "probe-1"
    assert reply.headers["cache-control"] == "no-store" and reply.headers["x-frame-options"] == "DENY"
    scope = seen[-1]
    assert scope["route"].path == "/probe"  # metrics label by this template
    assert "fastapi_middleware_astack" not in scope  # did not go through FastAPI's own stack


def test_errors_of_a_plain_route_reach_the_application_handlers(probe: TestClient) -> None:
    reply = probe.post("/probe?fail=oauth")
    assert reply.status_code == 400
    assert reply.json() == {"error": "invalid_request", "error_description": "The probe asked for an error."}
    crash = probe.post("/probe?fail=bug")
    assert crash.status_code == 500 and "internal detail" not in crash.text and "Traceback" not in crash.text
    assert crash.json()["error"] == "server_error"


def test_other_methods_and_paths_still_go_through_the_router(probe: TestClient) -> None:
    assert probe.get("/probe").status_code == 405
    assert probe.get("/token").status_code == 405
    assert probe.post("/token", data={"grant_type": "nonsense"}).json()["error"] == "unsupported_grant_type"
    assert probe.get("/healthz").json() == {"status": "ok"}


def test_an_unexpected_error_anywhere_leaves_with_the_security_headers(probe: TestClient) -> None:
    for reply in (probe.get("/crash"), probe.post("/probe?fail=bug")):
        assert reply.status_code == 500 and "internal detail" not in reply.text
        assert reply.json()["error"] == "server_error" and reply.json()["request_id"] == reply.headers["x-request-id"]
        assert reply.headers["x-content-type-options"] == "nosniff" and reply.headers["cache-control"] == "no-store"
        assert "strict-transport-security" in reply.headers
