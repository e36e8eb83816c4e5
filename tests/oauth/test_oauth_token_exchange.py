"""Token exchange (RFC 8693) in-process: the orders service receives alice's token for
https://orders.example and, as the policy allows, trades it for a token for
https://billing.example, acting for her (``act``); the scope only narrows, the new token ends
no later than the old one; every way to cheat is refused with the §2.2.2 error; the policy is
managed with the admin API and the CLI, and every change and exchange is an event."""

from __future__ import annotations

import time
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from idgate.provider import Provider
from idgate.services import accounts, audiences, token_exchange
from idgate.services.token_exchange import ACCESS_TOKEN_TYPE, EXCHANGE_GRANT
from idgate.store.db import transaction
from idgate.store.models import Event

from oauth_support import code_flow, redeem, register
from support import Deployment, GOOD_PASSWORD, run_cli

ORDERS, BILLING, LEDGER = "https://orders.example", "https://billing.example", "https://ledger.example"


def _claims(token: str) -> dict[str, Any]:
    return dict(pyjwt.decode(token, options={"verify_signature": False}))


class World:
    """alice's token for the orders API, and the backends that may exchange it."""

    def __init__(self, provider: Provider, http: Any) -> None:
        self.provider, self.http = provider, http
        for aud in (ORDERS, BILLING, LEDGER):
            audiences.add(provider.sessions, aud)
        register(provider, "webapp", public=True, audiences=[ORDERS],
                 scopes=["openid profile things:read things:write"])
        _, self.orders_secret = register(provider, "orders-svc", grant_types=[EXCHANGE_GRANT, "client_credentials"],
                                         redirect_uris=[], scopes=["things:read"])
        _, self.billing_secret = register(provider, "billing-svc", grant_types=[EXCHANGE_GRANT], redirect_uris=[])
        token_exchange.allow(provider, "orders-svc", ORDERS, BILLING, actor="test")
        token_exchange.allow(provider, "billing-svc", BILLING, LEDGER, actor="test")
        self.subject = self.user_token()

    def user_token(self, **extra: str) -> str:
        params, verifier, _ = code_flow(self.http, scope="openid things:read things:write", **extra)
        reply = redeem(self.http, params["code"], verifier)
        assert reply.status_code == 200, reply.text
        return str(reply.json()["access_token"])

    def exchange(self, client: str = "orders-svc", subject: str | None = None, **extra: str) -> Any:
        secret = {"orders-svc": self.orders_secret, "billing-svc": self.billing_secret}.get(client, "nope")
        data = {"grant_type": EXCHANGE_GRANT, "subject_token": subject or self.subject,
                "subject_token_type": ACCESS_TOKEN_TYPE, **extra}
        return self.http.post("/token", data={k: v for k, v in data.items() if v != ""}, auth=(client, secret))

    def actor_token(self) -> str:
        reply = self.http.post("/token", data={"grant_type": "client_credentials"},
                               auth=("orders-svc", self.orders_secret))
        assert reply.status_code == 200, reply.text
        return str(reply.json()["access_token"])


@pytest.fixture
def world(lite: Provider, lite_http) -> World:  # type: ignore[no-untyped-def]
    return World(lite, lite_http)


def _error(reply: Any) -> str:
    assert reply.status_code in (400, 401), reply.text
    return str(reply.json()["error"])


def test_exchange_acting_for_the_user_narrows_and_ends_no_later(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    world = World(provider, http)
    subject = _claims(world.subject)
    assert subject["aud"] == ORDERS and set(subject["scope"].split()) == {"openid", "things:read", "things:write"}
    reply = world.exchange(audience=BILLING, scope="things:read", actor_token=world.actor_token(),
                           actor_token_type=ACCESS_TOKEN_TYPE)
    assert reply.status_code == 200, reply.text
    assert reply.headers["cache-control"] == "no-store"
    body = reply.json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE and body["token_type"] == "Bearer"
    assert "refresh_token" not in body and body["scope"] == "things:read"
    key = provider.keyring().public_jwks()["keys"][0]
    new = pyjwt.decode(body["access_token"], pyjwt.PyJWK(key).key, algorithms=["ES256"], audience=BILLING,
                       issuer="https://localhost:8443")
    assert pyjwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"
    assert new["sub"] == subject["sub"] and new["client_id"] == "orders-svc" and new["act"] == {"sub": "orders-svc"}
    assert new["permissions"] == ["things:read"] and new["exp"] <= subject["exp"]
    assert new["auth_time"] == subject["auth_time"] and new["amr"] == subject["amr"]

    # The billing service, called with that token, goes one step further: a delegation chain.
    chained = world.exchange("billing-svc", body["access_token"], resource=LEDGER)
    assert chained.status_code == 200, chained.text
    assert _claims(chained.json()["access_token"])["act"] == {"sub": "orders-svc"}  # no new actor: kept
    with transaction(provider.sessions) as session:
        rows = session.scalars(select(Event).where(Event.kind == "token.exchanged")).all()
    assert len(rows) == 2 and rows[0].client_id == "orders-svc" and rows[0].actor == subject["sub"]
    assert '"aud":"https://billing.example"' in rows[0].detail and '"act_sub":"orders-svc"' in rows[0].detail


def test_the_default_target_and_the_actor_is_the_caller(world: World) -> None:
    plain = world.exchange()  # one allowed target: no need to name it
    assert plain.status_code == 200, plain.text
    token = plain.json()["access_token"]
    assert _claims(token)["aud"] == BILLING and "act" not in _claims(token)
    acted = world.exchange(actor_token=world.actor_token(), actor_token_type=ACCESS_TOKEN_TYPE)
    billing_token = acted.json()["access_token"]
    # billing-svc cannot name orders-svc as the actor: an actor token is the caller's own
    foreign_actor = world.exchange("billing-svc", billing_token, actor_token=world.actor_token(),
                                   actor_token_type=ACCESS_TOKEN_TYPE)
    assert _error(foreign_actor) == "invalid_grant" and "calling client" in foreign_actor.json()["error_description"]


@pytest.mark.parametrize("extra, error", [
    ({"audience": LEDGER}, "invalid_target"),  # not allowed for orders-svc
    ({"resource": "https://elsewhere.example"}, "invalid_target"),
    ({"audience": BILLING, "resource": LEDGER}, "invalid_target"),
    ({"scope": "things:read admin"}, "invalid_scope"),  # only narrows
    ({"subject_token": ""}, "invalid_request"),
    ({"subject_token_type": ""}, "invalid_request"),
    ({"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "invalid_request"),
    ({"requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"}, "invalid_request"),
    ({"actor_token_type": ACCESS_TOKEN_TYPE}, "invalid_request"),  # a type without a token
    ({"actor_token": "x.y.z", "actor_token_type": ACCESS_TOKEN_TYPE}, "invalid_grant"),
    ({"actor_token": "abc", "actor_token_type": "urn:ietf:params:oauth:token-type:jwt"}, "invalid_request"),
    ({"subject_token": "not-a-token"}, "invalid_grant"),
    ({"subject_token": "a" * 7000}, "invalid_grant"),
])
def test_bad_requests_get_the_rfc_errors(world: World, extra: dict[str, str], error: str) -> None:
    assert _error(world.exchange(**extra)) == error


def test_revoked_foreign_expired_and_other_audience_subject_tokens(world: World, lite: Provider) -> None:
    assert world.exchange(subject="a" * 9000).status_code == 413  # over the body limit: refused unread
    now = int(time.time())
    forged = pyjwt.encode({**_claims(world.subject), "iat": now}, ec.generate_private_key(ec.SECP256R1()),
                          algorithm="ES256", headers={"typ": "at+jwt", "kid": _kid(world.subject)})
    assert _error(world.exchange(subject=forged)) == "invalid_grant"
    from idgate.tokens.access import issue_access_token

    stale = {**_claims(world.subject), "iat": now - 3600, "nbf": now - 3600, "exp": now - 1800}
    expired = issue_access_token(stale, lite.keyring().active)  # idgate's own key, but expired
    assert _error(world.exchange(subject=expired)) == "invalid_grant"
    unsigned = pyjwt.encode(_claims(world.subject), key=None, algorithm="none", headers={"typ": "at+jwt"})
    assert _error(world.exchange(subject=unsigned)) == "invalid_grant"
    first_party = world.http.post("/login", json={"username": "alice", "password": GOOD_PASSWORD}).json()
    assert _error(world.exchange(subject=first_party["access_token"])) == "invalid_target"  # not for ORDERS
    # Once the app revokes alice's token, it cannot be exchanged any more.
    assert world.http.post("/revoke", data={"token": world.subject, "client_id": "webapp"}).status_code == 200
    revoked = world.exchange()
    assert _error(revoked) == "invalid_grant" and "revoked" in revoked.json()["error_description"]
    fresh = world.user_token()
    accounts.set_disabled(lite.sessions, "alice", True, actor="test")
    assert _error(world.exchange(subject=fresh)) == "invalid_grant"


def test_only_confidential_clients_with_the_grant_and_a_policy(world: World, lite: Provider) -> None:
    http = world.http
    _, other = register(lite, "batch", grant_types=["client_credentials"], redirect_uris=[], scopes=["things:read"])
    data = {"grant_type": EXCHANGE_GRANT, "subject_token": world.subject, "subject_token_type": ACCESS_TOKEN_TYPE}
    assert _error(http.post("/token", data=data, auth=("batch", other))) == "unauthorized_client"
    assert http.post("/token", data={**data, "client_id": "webapp"}).status_code == 401  # public: no exchange
    assert http.post("/token", data=data, auth=("orders-svc", "wrong")).status_code == 401
    # billing-svc may exchange only tokens addressed to billing, and alice's is for orders
    assert _error(world.exchange("billing-svc")) == "invalid_target"
    token_exchange.disallow(lite, "orders-svc", ORDERS, BILLING, actor="test")
    assert _error(world.exchange()) == "invalid_target"
    from idgate.errors import InvalidRequest

    with pytest.raises(InvalidRequest):
        register(lite, "spa-x", public=True, grant_types=[EXCHANGE_GRANT], redirect_uris=[])
    with pytest.raises(InvalidRequest):
        token_exchange.allow(lite, "batch", ORDERS, BILLING, actor="test")  # lacks the grant
    with pytest.raises(InvalidRequest):
        token_exchange.allow(lite, "orders-svc", ORDERS, "https://unknown.example", actor="test")


def test_dpop_bound_subject_tokens_are_not_exchanged(world: World) -> None:
    from dpop_client import DpopClient

    reply = DpopClient(world.http).post("/login", json={"username": "alice", "password": GOOD_PASSWORD})
    assert reply.status_code == 200, reply.text
    bound = reply.json()["access_token"]
    assert "cnf" in _claims(bound)
    refused = world.exchange(subject=bound)
    assert _error(refused) == "invalid_grant" and "DPoP" in refused.json()["error_description"]


def test_policy_through_the_admin_api(provider: Provider, http, deployment: Deployment) -> None:  # type: ignore[no-untyped-def]
    for aud in (ORDERS, BILLING):
        audiences.add(provider.sessions, aud)
    register(provider, "orders-svc", grant_types=[EXCHANGE_GRANT], redirect_uris=[])
    token = http.post("/login", json={"username": "admin", "password": deployment.admin_password}).json()
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    body = {"client_id": "orders-svc", "subject_audience": ORDERS, "audience": BILLING}
    assert http.post("/admin/token-exchange", json=body).status_code == 401
    made = http.post("/admin/token-exchange", json=body, headers=auth)
    assert made.status_code == 201 and made.json() == body
    assert http.post("/admin/token-exchange", json=body, headers=auth).status_code == 409
    assert http.post("/admin/token-exchange", json={**body, "surprise": 1}, headers=auth).status_code == 400
    assert http.post("/admin/token-exchange", json={**body, "client_id": "nobody"}, headers=auth).status_code == 404
    assert http.get("/admin/token-exchange", headers=auth).json() == [body]
    gone = http.delete("/admin/token-exchange", params=body, headers=auth)
    assert gone.status_code == 204 and http.get("/admin/token-exchange", headers=auth).json() == []
    assert http.delete("/admin/token-exchange", params=body, headers=auth).status_code == 404
    with transaction(provider.sessions) as session:
        kinds = [e.kind for e in session.scalars(select(Event).where(Event.kind.like("exchange_policy.%")))]
    assert kinds == ["exchange_policy.added", "exchange_policy.removed"]


def test_cli_allow_list_remove(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from support import init_deployment_fast

    deployment = init_deployment_fast(tmp_path / "data")
    data = str(deployment.data)
    for aud in (ORDERS, BILLING):
        run_cli("audience", "add", aud, "--data", data)
    run_cli("client", "add", "orders-svc", "--data", data, "--grant", EXCHANGE_GRANT)
    made = run_cli("exchange", "allow", "orders-svc", "--data", data, "--from", ORDERS, "--to", BILLING)
    assert "orders-svc may exchange tokens for https://orders.example into tokens for https://billing.example" \
        in made.stdout
    assert "billing.example" in run_cli("exchange", "list", "--data", data).stdout
    again = run_cli("exchange", "allow", "orders-svc", "--data", data, "--from", ORDERS, "--to", BILLING, check=False)
    assert again.returncode != 0 and "Traceback" not in again.stderr
    run_cli("exchange", "remove", "orders-svc", "--data", data, "--from", ORDERS, "--to", BILLING)
    assert "billing.example" not in run_cli("exchange", "list", "--data", data).stdout


def _kid(token: str) -> str:
    return str(pyjwt.get_unverified_header(token)["kid"])


def test_tokens_for_a_registered_resource_server_are_introspected(world: World, lite: Provider) -> None:
    """The verifier behind revocation and introspection knows every registered audience (found
    while building the exchange: a token for an `idgate audience add` service was inactive)."""
    _, secret = register(lite, "orders-rs", grant_types=["client_credentials"], redirect_uris=[], introspect=True,
                         audiences=[ORDERS])
    seen = world.http.post("/introspect", data={"token": world.subject}, auth=("orders-rs", secret))
    assert seen.status_code == 200 and seen.json()["active"] is True and seen.json()["aud"] == ORDERS


def test_the_migrations_make_the_issue_14_tables_as_the_models_say(provider: Provider) -> None:
    """Alembic's 0009 (device codes), 0010 (exchange policy) and 0011 (back-channel logout)
    against the models, on SQLite and PostgreSQL: no difference in columns, types, keys or indexes."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from idgate.store.models import Base
    from idgate.store.models_device import DeviceAuthorization
    from idgate.store.models_backchannel import LogoutDelivery, SessionClient
    from idgate.store.models_exchange import TokenExchangePolicy

    ours = {DeviceAuthorization.__tablename__, TokenExchangePolicy.__tablename__, SessionClient.__tablename__,
            LogoutDelivery.__tablename__, "backchannel_logout"}  # the last: the new oauth_clients columns
    with provider.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert [d for d in diffs if any(t in repr(d) for t in ours)] == []
