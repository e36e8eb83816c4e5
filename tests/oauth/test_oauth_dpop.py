"""DPoP on the issuer (RFC 9449 §5, §6, §8, §10): /login and every grant of /token bind tokens to
the proof's key; refresh tokens of public clients and dpop_jkt codes need that key; nonces; a
client that must use DPoP; discovery and introspection. Runs on SQLite and PostgreSQL (where the
replay cache is the database table every node shares)."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient

from idgate.config.loading import load_settings
from idgate.jose.dpop_key import DpopKey
from idgate.provider import Provider
from idgate.server.app import create_app
from idgate.services.clients.metadata import ClientSpec
from idgate.services.clients.registry import add_client

from dpop_client import ISSUER, DpopClient, claims_of
from oauth_support import REDIRECT, code_flow, pkce, redeem, register, sign_in_and_consent, auth_params, query_of
from support import GOOD_PASSWORD


def _login(http: TestClient, dpop: DpopClient | None = None, **extra: str):  # type: ignore[no-untyped-def]
    body = {"username": "alice", "password": GOOD_PASSWORD, **extra}
    return dpop.post("/login", json=body) if dpop is not None else http.post("/login", json=body)


def _service(provider: Provider, client_id: str = "svc", **kw: object) -> str:
    _, secret = add_client(provider.sessions, ClientSpec(client_id=client_id, grant_types=["client_credentials"],
                                                         scopes=["things:read"], **kw))  # type: ignore[arg-type]
    assert secret
    return secret


def test_discovery_lists_asymmetric_proof_algorithms_only(http: TestClient) -> None:
    algs = http.get("/.well-known/openid-configuration").json()["dpop_signing_alg_values_supported"]
    assert {"ES256", "EdDSA", "PS256", "RS256"} <= set(algs)
    assert not [a for a in algs if a.lower() == "none" or a.startswith("HS")]


def test_login_asks_for_a_nonce_before_it_looks_at_the_password(http: TestClient) -> None:
    key = DpopKey.generate()
    proof = key.proof("POST", ISSUER + "/login")
    reply = http.post("/login", json={"username": "alice", "password": "wrong"}, headers={"DPoP": proof})
    assert reply.status_code == 400 and reply.json()["error"] == "use_dpop_nonce"
    assert reply.headers["dpop-nonce"] and reply.headers["cache-control"] == "no-store"


def test_login_with_a_proof_binds_the_access_and_refresh_tokens(http: TestClient) -> None:
    dpop = DpopClient(http)
    reply = _login(http, dpop)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["token_type"] == "DPoP"
    assert claims_of(body["access_token"])["cnf"] == {"jkt": dpop.key.jkt}
    assert reply.headers["dpop-nonce"]  # §8.2: the next proof can carry it at once
    plain = _login(http).json()
    assert plain["token_type"] == "Bearer" and "cnf" not in claims_of(plain["access_token"])


def test_a_bound_refresh_token_needs_its_key_and_reuse_detection_still_works(http: TestClient) -> None:
    dpop = DpopClient(http)
    token = _login(http, dpop).json()["refresh_token"]
    form = {"grant_type": "refresh_token", "refresh_token": token}
    stolen = http.post("/token", data=form)  # the thief has the token, not the key
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    other = DpopClient(http, base=ISSUER)
    other.nonce = dpop.nonce
    assert other.post("/token", data=form).json()["error"] == "invalid_grant"
    good = dpop.post("/token", data=form)  # the failures above did not spend it
    assert good.status_code == 200, good.text
    assert good.json()["token_type"] == "DPoP"
    assert claims_of(good.json()["access_token"])["cnf"]["jkt"] == dpop.key.jkt
    second = good.json()["refresh_token"]
    replay = dpop.post("/token", data=form)  # the spent token again, even with the right key
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert dpop.post("/token", data={"grant_type": "refresh_token", "refresh_token": second}).status_code == 400


def test_client_credentials_with_dpop_and_introspection_shows_cnf(http: TestClient, provider: Provider) -> None:
    secret = _service(provider)
    _, rs_secret = add_client(provider.sessions, ClientSpec(client_id="rs", grant_types=["client_credentials"],
                                                            introspect=True))
    dpop = DpopClient(http)
    reply = dpop.post("/token", data={"grant_type": "client_credentials"}, auth=("svc", secret))
    assert reply.status_code == 200, reply.text
    assert reply.json()["token_type"] == "DPoP"
    token = reply.json()["access_token"]
    assert claims_of(token)["cnf"] == {"jkt": dpop.key.jkt}
    seen = http.post("/introspect", data={"token": token}, auth=("rs", rs_secret or "")).json()
    assert seen["active"] is True and seen["token_type"] == "DPoP" and seen["cnf"] == {"jkt": dpop.key.jkt}


def test_a_client_registered_for_dpop_must_send_a_proof(http: TestClient, provider: Provider) -> None:
    secret = _service(provider, dpop_bound_access_tokens=True)
    refused = http.post("/token", data={"grant_type": "client_credentials"}, auth=("svc", secret))
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_dpop_proof"
    allowed = DpopClient(http).post("/token", data={"grant_type": "client_credentials"}, auth=("svc", secret))
    assert allowed.status_code == 200 and allowed.json()["token_type"] == "DPoP"


def test_the_server_default_makes_new_clients_require_dpop(provider: Provider) -> None:
    client, _ = add_client(provider.sessions, ClientSpec(client_id="a", grant_types=["client_credentials"]),
                           dpop_default=True)
    assert client.dpop_bound_access_tokens and client.as_dict()["dpop_bound_access_tokens"] is True
    explicit, _ = add_client(provider.sessions, ClientSpec(client_id="b", grant_types=["client_credentials"],
                                                           dpop_bound_access_tokens=False), dpop_default=True)
    assert not explicit.dpop_bound_access_tokens


def test_a_code_requested_with_dpop_jkt_is_redeemable_with_that_key_only(http: TestClient,
                                                                         provider: Provider) -> None:
    register(provider, "spa", public=True)
    dpop = DpopClient(http)
    response, verifier, _ = code_flow(http, "spa", dpop_jkt=dpop.key.jkt)
    without = redeem(http, response["code"], verifier, client_id="spa")
    assert without.status_code == 400 and without.json()["error"] == "invalid_grant"
    other = DpopClient(http)
    other.nonce = dpop.nonce
    data = {"grant_type": "authorization_code", "code": response["code"], "code_verifier": verifier,
            "redirect_uri": REDIRECT, "client_id": "spa"}
    assert other.post("/token", data=data).json()["error"] == "invalid_grant"
    reply = dpop.post("/token", data=data)
    assert reply.status_code == 200, reply.text
    tokens = reply.json()
    assert tokens["token_type"] == "DPoP" and claims_of(tokens["access_token"])["cnf"]["jkt"] == dpop.key.jkt
    # A public client's refresh token is bound to the key (§5).
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "spa"}
    assert http.post("/token", data=refresh).json()["error"] == "invalid_grant"
    assert dpop.post("/token", data=refresh).status_code == 200


def test_a_malformed_dpop_jkt_is_refused_at_the_authorization_endpoint(http: TestClient, provider: Provider) -> None:
    register(provider, "spa", public=True)
    _, challenge = pkce()
    reply = sign_in_and_consent(http, auth_params("spa", challenge, dpop_jkt="not-a-thumbprint"))
    assert reply.status_code == 303
    assert query_of(reply.headers["location"])["error"] == "invalid_request"


def test_a_confidential_clients_refresh_token_is_not_bound_but_its_access_tokens_are(
        http: TestClient, provider: Provider) -> None:
    _, secret = register(provider, "webapp")
    response, verifier, _ = code_flow(http, "webapp")
    dpop = DpopClient(http)
    data = {"grant_type": "authorization_code", "code": response["code"], "code_verifier": verifier,
            "redirect_uri": REDIRECT}
    tokens = dpop.post("/token", data=data, auth=("webapp", secret)).json()
    assert tokens["token_type"] == "DPoP"
    # The client authenticates each refresh, so its refresh token needs no key (§5); the new
    # access token is bound to whatever key the refresh request proves, or is a bearer token.
    plain = http.post("/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                      auth=("webapp", secret))
    assert plain.status_code == 200 and plain.json()["token_type"] == "Bearer"


@pytest.mark.parametrize("case", ["other_path", "other_method", "replayed", "two_headers", "garbage", "stale"])
def test_bad_proofs_at_the_token_endpoint_are_400_invalid_dpop_proof(lite_http: TestClient, lite: Provider,
                                                                     case: str) -> None:
    secret = _service(lite)
    dpop = DpopClient(lite_http)
    assert dpop.post("/token", data={"grant_type": "client_credentials"}, auth=("svc", secret)).status_code == 200
    key, nonce, url = dpop.key, dpop.nonce, ISSUER + "/token"
    proofs = {
        "other_path": [key.proof("POST", ISSUER + "/login", nonce=nonce)],
        "other_method": [key.proof("GET", url, nonce=nonce)],
        "garbage": ["not.a.proof"],
        "stale": [key.proof("POST", url, nonce=nonce, iat=claims_of(key.proof("POST", url))["iat"] - 3600)],
    }
    if case == "replayed":
        proof = key.proof("POST", url, nonce=nonce)
        first = lite_http.post("/token", data={"grant_type": "client_credentials"}, auth=("svc", secret),
                               headers={"DPoP": proof})
        assert first.status_code == 200
        headers = [("DPoP", proof)]
    elif case == "two_headers":
        headers = [("DPoP", key.proof("POST", url, nonce=nonce)), ("DPoP", key.proof("POST", url, nonce=nonce))]
    else:
        headers = [("DPoP", proofs[case][0])]
    reply = lite_http.post("/token", data={"grant_type": "client_credentials"}, auth=("svc", secret), headers=headers)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"] == "invalid_dpop_proof"


def test_nonces_can_be_turned_off(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from support import init_deployment_fast

    deployment = init_deployment_fast(tmp_path / "d")
    provider = Provider(load_settings(deployment.data, {"dpop_nonce": False}))
    try:
        secret = _service(provider)
        with TestClient(create_app(provider), base_url=ISSUER) as http:
            key = DpopKey.generate("EdDSA")
            reply = http.post("/token", data={"grant_type": "client_credentials"}, auth=("svc", secret),
                              headers={"DPoP": key.proof("POST", ISSUER + "/token")})
            assert reply.status_code == 200 and "dpop-nonce" not in reply.headers
            assert claims_of(reply.json()["access_token"])["cnf"]["jkt"] == key.jkt
    finally:
        provider.close()


def test_a_nonce_from_one_node_works_on_another_and_a_replay_on_another_is_refused(
        deployment, provider: Provider) -> None:  # type: ignore[no-untyped-def]
    """Two providers on one data folder and database stand for two nodes: the nonce comes from
    the shared key-encryption key; the replay cache is the database (PostgreSQL) or, on SQLite
    with one worker per machine, this process (so the replay half runs on PostgreSQL only)."""
    secret = _service(provider)
    second = Provider(dataclasses.replace(provider.settings))
    try:
        with TestClient(create_app(provider), base_url=ISSUER) as one, \
                TestClient(create_app(second), base_url=ISSUER) as two:
            dpop = DpopClient(one)
            assert dpop.post("/token", data={"grant_type": "client_credentials"}, auth=("svc", secret)).status_code == 200
            proof = dpop.key.proof("POST", ISSUER + "/token", nonce=dpop.nonce)
            on_two = two.post("/token", data={"grant_type": "client_credentials"}, auth=("svc", secret),
                              headers={"DPoP": proof})
            assert on_two.status_code == 200, on_two.text  # node one's nonce is node two's too
            if deployment.database_url:
                again = one.post("/token", data={"grant_type": "client_credentials"}, auth=("svc", secret),
                                 headers={"DPoP": proof})
                assert again.status_code == 400 and again.json()["error"] == "invalid_dpop_proof"
    finally:
        second.close()
