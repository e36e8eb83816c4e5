"""DPoP through BearerAuthMiddleware and require_scope (RFC 9449 §7.1) on the wire: one
``WWW-Authenticate`` field per scheme, 401 for a bad proof, 403 in the scheme used."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from rs_support import NOW, FixedClock, token, verifier
from starlette.websockets import WebSocket

from idgate.jose.dpop_key import DpopKey
from idgate.rs import BearerAuthMiddleware, ProofChecker, require_scope

BASE = "https://api.example"
KEY = DpopKey.generate()


def dpop_verifier() -> Any:
    clock = FixedClock()
    return verifier(clock=clock, dpop=ProofChecker(clock=clock), public_url=BASE)


def app_with(check: Any, middleware: bool) -> TestClient:
    app = FastAPI()

    @app.get("/things")
    def things(claims: dict[str, Any] = Depends(require_scope("things:read", None if middleware else check))) -> Any:
        return {"sub": claims["sub"]}

    @app.get("/admin")
    def admin(claims: dict[str, Any] = Depends(require_scope("admin", None if middleware else check))) -> Any:
        return {}

    @app.websocket("/feed")
    async def feed(socket: WebSocket) -> None:
        await socket.accept()
        await socket.send_json({"sub": socket.scope["idgate.claims"]["sub"]})
        await socket.close()

    return TestClient(BearerAuthMiddleware(app, check) if middleware else app, base_url=BASE)


def sent(at: str, method: str = "GET", path: str = "/things", key: DpopKey = KEY) -> dict[str, str]:
    return {"Authorization": f"DPoP {at}", "DPoP": key.proof(method, BASE + path, access_token=at, iat=NOW)}


def bound() -> str:
    return token(cnf={"jkt": KEY.jkt})


def test_the_middleware_takes_dpop_and_sends_one_challenge_per_scheme() -> None:
    http = app_with(dpop_verifier(), middleware=True)
    at = bound()
    assert http.get("/things", headers=sent(at)).json() == {"sub": "3f1c2a9e-user"}
    missing = http.get("/things")
    assert missing.status_code == 401
    assert missing.headers.get_list("www-authenticate") == [
        'Bearer realm="idgate"', 'DPoP realm="idgate", algs="ES256 ES384 EdDSA PS256 RS256"']
    stolen = http.get("/things", headers=sent(at, key=DpopKey.generate()))
    assert stolen.status_code == 401 and stolen.json()["error"] == "invalid_dpop_proof"
    assert stolen.headers.get_list("www-authenticate")[0].startswith('DPoP realm="idgate", error="invalid_dpop_proof"')
    assert stolen.headers["cache-control"] == "no-store"
    scope = http.get("/admin", headers=sent(at, path="/admin"))
    assert scope.status_code == 403
    assert scope.headers["www-authenticate"].startswith('DPoP realm="idgate", error="insufficient_scope"')


def test_require_scope_alone_takes_dpop_too() -> None:
    http = app_with(dpop_verifier(), middleware=False)
    at = bound()
    assert http.get("/things", headers=sent(at)).status_code == 200
    as_bearer = http.get("/things", headers={"Authorization": f"Bearer {at}"})
    assert as_bearer.status_code == 401 and "DPoP" in as_bearer.json()["detail"]["error_description"]
    assert http.get("/things", headers={"Authorization": f"Bearer {token()}"}).status_code == 200


def test_a_websocket_handshake_takes_a_dpop_proof_for_get() -> None:
    http = app_with(dpop_verifier(), middleware=True)
    at = bound()
    with http.websocket_connect("/feed", headers=sent(at, path="/feed")) as socket:
        assert socket.receive_json() == {"sub": "3f1c2a9e-user"}


def _wire_cases() -> dict[str, tuple[Any, str]]:
    from test_rs_dpop import BAD_PROOFS

    at = WIRE_TOKEN
    good = {"access_token": at, "iat": NOW}
    cases = {name: (lambda make=make: make(), expected) for name, (make, expected) in BAD_PROOFS.items()}
    cases.update({
        "missing ath": (lambda: KEY.proof("GET", BASE + "/things", iat=NOW), "missing_ath"),
        "wrong ath": (lambda: KEY.proof("GET", BASE + "/things", access_token=at + "x", iat=NOW), "wrong_ath"),
        "key of another client": (lambda: DpopKey.generate().proof("GET", BASE + "/things", **good), "key_mismatch"),
    })
    return cases


WIRE_TOKEN = bound()
WIRE_CASES = _wire_cases()


@pytest.mark.parametrize("name", sorted(WIRE_CASES))
def test_every_bad_proof_is_a_401_with_its_reason_never_a_500(name: str) -> None:
    make, expected = WIRE_CASES[name]
    http = app_with(dpop_verifier(), middleware=True)
    proof = make()
    headers = {"Authorization": f"DPoP {WIRE_TOKEN}"} | ({"DPoP": proof} if proof is not None else {})
    reply = http.get("/things", headers=headers)
    assert reply.status_code == 401, reply.text
    assert reply.json()["error"] == "invalid_dpop_proof"
    assert expected.replace("_", " ") in reply.json()["error_description"]
    assert reply.headers["www-authenticate"].startswith('DPoP realm="idgate", error="invalid_dpop_proof"')


def test_several_dpop_headers_and_a_replay_are_401() -> None:
    http = app_with(dpop_verifier(), middleware=True)
    at = bound()
    first, second = sent(at)["DPoP"], sent(at)["DPoP"]
    several = http.get("/things", headers=[("Authorization", f"DPoP {at}"), ("DPoP", first), ("DPoP", second)])
    assert several.status_code == 401 and "several dpop headers" in several.json()["error_description"]
    assert http.get("/things", headers={"Authorization": f"DPoP {at}", "DPoP": first}).status_code == 200
    replay = http.get("/things", headers={"Authorization": f"DPoP {at}", "DPoP": first})
    assert replay.status_code == 401 and "replayed jti" in replay.json()["error_description"]


def test_the_url_a_proof_must_name_is_the_public_url_never_the_host_header() -> None:
    """A proof made for another service (its host in htu) must not pass here because the request
    says ``Host: that-service``: htu is compared with public_url, not with the request's Host."""
    http = app_with(dpop_verifier(), middleware=True)
    at = bound()
    other = "https://other.example"
    proof = KEY.proof("GET", other + "/things", access_token=at, iat=NOW)
    reply = http.get("/things", headers={"Authorization": f"DPoP {at}", "DPoP": proof, "Host": "other.example"})
    assert reply.status_code == 401 and "wrong htu" in reply.json()["error_description"]
