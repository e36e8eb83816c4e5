"""DPoP-bound tokens at idgate's own resources (RFC 9449 §7): /userinfo, the admin API and the
account (MFA) API take ``Authorization: DPoP`` with a proof, refuse the bound token as a bearer
token, and answer refusals with the DPoP challenge."""

from __future__ import annotations

from fastapi.testclient import TestClient

from idgate.jose.dpop_key import DpopKey
from idgate.provider import Provider
from idgate.services import accounts

from dpop_client import ISSUER, DpopClient
from support import GOOD_PASSWORD


def _bound_token(http: TestClient, dpop: DpopClient, username: str = "alice") -> str:
    reply = dpop.post("/login", json={"username": username, "password": GOOD_PASSWORD})
    assert reply.status_code == 200, reply.text
    assert reply.json()["token_type"] == "DPoP"
    return str(reply.json()["access_token"])


def test_userinfo_with_a_bound_token_and_its_proof(http: TestClient) -> None:
    dpop = DpopClient(http)
    token = _bound_token(http, dpop)
    reply = dpop.call("GET", "/userinfo", token)
    assert reply.status_code == 200, reply.text
    assert reply.json()["preferred_username"] == "alice"
    assert dpop.call("POST", "/userinfo", token).status_code == 200


def test_a_bound_token_sent_as_bearer_is_refused_at_userinfo(http: TestClient) -> None:
    dpop = DpopClient(http)
    token = _bound_token(http, dpop)
    reply = http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 401
    challenge = reply.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="idgate", error="invalid_token"')
    assert 'DPoP realm="idgate", algs="' in challenge  # the scheme that would work is offered
    assert "DPoP" in reply.json()["error_description"]


def test_userinfo_refuses_a_replayed_stolen_or_misdirected_proof(http: TestClient) -> None:
    dpop = DpopClient(http)
    token = _bound_token(http, dpop)
    proof = dpop.key.proof("GET", ISSUER + "/userinfo", access_token=token)
    sent = {"Authorization": f"DPoP {token}", "DPoP": proof}
    assert http.get("/userinfo", headers=sent).status_code == 200
    replayed = http.get("/userinfo", headers=sent)
    assert replayed.status_code == 401 and replayed.json()["error"] == "invalid_dpop_proof"
    assert replayed.headers["www-authenticate"].startswith('DPoP realm="idgate", error="invalid_dpop_proof"')
    thief = DpopKey.generate().proof("GET", ISSUER + "/userinfo", access_token=token)
    assert http.get("/userinfo", headers={**sent, "DPoP": thief}).status_code == 401
    for proof in (dpop.key.proof("GET", ISSUER + "/token", access_token=token),
                  dpop.key.proof("POST", ISSUER + "/userinfo", access_token=token),
                  dpop.key.proof("GET", ISSUER + "/userinfo")):
        refused = http.get("/userinfo", headers={**sent, "DPoP": proof})
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_dpop_proof"
    missing = http.get("/userinfo", headers={"Authorization": f"DPoP {token}"})
    assert missing.status_code == 401 and missing.json()["error"] == "invalid_dpop_proof"


def test_an_unbound_token_under_the_dpop_scheme_is_refused(http: TestClient) -> None:
    plain = http.post("/login", json={"username": "alice", "password": GOOD_PASSWORD}).json()["access_token"]
    key = DpopKey.generate()
    reply = http.get("/userinfo", headers={"Authorization": f"DPoP {plain}",
                                           "DPoP": key.proof("GET", ISSUER + "/userinfo", access_token=plain)})
    assert reply.status_code == 401 and reply.json()["error"] == "invalid_token"
    assert reply.headers["www-authenticate"].startswith("DPoP ")
    assert http.get("/userinfo", headers={"Authorization": f"Bearer {plain}"}).status_code == 200


def test_no_token_offers_both_schemes(http: TestClient) -> None:
    reply = http.get("/userinfo")
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"].startswith('Bearer realm="idgate", DPoP realm="idgate", algs="ES256')


def test_the_admin_and_account_apis_take_a_bound_token(http: TestClient, provider: Provider) -> None:
    accounts.add_user(provider.sessions, "root", GOOD_PASSWORD, permissions=["admin"])
    admin = DpopClient(http)
    token = _bound_token(http, admin, "root")
    assert admin.call("GET", "/admin/users", token).status_code == 200
    assert admin.call("GET", "/admin/clients", token).status_code == 200
    assert admin.call("GET", "/mfa", token).status_code == 200
    assert http.get("/admin/users", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    user = DpopClient(http)
    forbidden = user.call("GET", "/admin/users", _bound_token(http, user))
    assert forbidden.status_code == 403 and forbidden.json()["error"] == "insufficient_scope"
    assert forbidden.headers["www-authenticate"].startswith('DPoP realm="idgate", error="insufficient_scope"')


def test_revoking_a_bound_token_ends_it_at_userinfo(http: TestClient) -> None:
    dpop = DpopClient(http)
    token = _bound_token(http, dpop)
    assert http.post("/revoke", data={"token": token, "client_id": "idgate-first-party"}).status_code == 200
    reply = dpop.call("GET", "/userinfo", token)
    assert reply.status_code == 401 and reply.json()["error"] == "invalid_token"
