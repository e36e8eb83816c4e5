"""Client authentication at /token and /introspect, client_credentials, and introspection."""

from __future__ import annotations

import time
import uuid

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from idgate.provider import Provider
from idgate.rs import Verifier
from idgate.services.access_verifier import build_verifier

from oauth_support import code_flow, redeem, register

TOKEN_URL = "https://localhost:8443/token"


def _cc(http, **kw):  # type: ignore[no-untyped-def]
    return http.post("/token", data={"grant_type": "client_credentials", **kw.pop("data", {})}, **kw)


def test_client_secret_basic_and_post(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    _, secret = register(provider, "svc", grant_types=["client_credentials"], redirect_uris=[],
                         scopes=["things:read things:write"])
    assert _cc(http, auth=("svc", secret)).status_code == 200
    assert _cc(http, data={"client_id": "svc", "client_secret": secret}).status_code == 200
    both = _cc(http, data={"client_id": "svc", "client_secret": secret}, auth=("svc", secret))
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"
    for attempt in ({"auth": ("svc", "igs_wrong")}, {"auth": ("nobody", secret)},
                    {"data": {"client_id": "svc"}}, {"data": {"client_id": "svc", "client_secret": ""}}):
        reply = _cc(http, **attempt)
        assert reply.status_code == 401 and reply.json()["error"] == "invalid_client", attempt
    assert _cc(http).status_code == 401  # nobody at all


def test_client_credentials_token_has_no_user(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    _, secret = register(provider, "svc", grant_types=["client_credentials"], redirect_uris=[],
                         scopes=["openid things:read things:write"], access_token_ttl=120)
    reply = _cc(http, auth=("svc", secret), data={"scope": "things:read"})
    assert reply.status_code == 200 and reply.headers["cache-control"] == "no-store"
    body = reply.json()
    assert body["scope"] == "things:read" and body["expires_in"] == 120 and "refresh_token" not in body
    claims = build_verifier(provider).verify(body["access_token"])
    assert claims["sub"] == "svc" and claims["client_id"] == "svc" and claims["exp"] - claims["iat"] == 120
    assert not {"preferred_username", "roles", "permissions", "email", "name", "auth_time", "amr"} & set(claims)
    assert pyjwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"
    everything = _cc(http, auth=("svc", secret)).json()
    assert everything["scope"] == "things:read things:write"  # openid is not a service scope
    assert _cc(http, auth=("svc", secret), data={"scope": "admin"}).json()["error"] == "invalid_scope"


def test_public_and_code_only_clients_cannot_use_client_credentials(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    register(provider, "spa", public=True)
    assert _cc(http, data={"client_id": "spa"}).status_code in (400, 401)
    _, secret = register(provider, "web")
    assert _cc(http, auth=("web", secret)).json()["error"] == "unauthorized_client"


def _es256_client(provider: Provider) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = pyjwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    register(provider, "jwt-svc", grant_types=["client_credentials"], redirect_uris=[], scopes=["things:read"],
             auth_method="private_key_jwt", jwks={"keys": [{**jwk, "kid": "k1", "alg": "ES256"}]})
    return key


def _assertion(key, **claims) -> str:  # type: ignore[no-untyped-def]
    now = int(time.time())
    body = {"iss": "jwt-svc", "sub": "jwt-svc", "aud": TOKEN_URL, "iat": now, "exp": now + 60,
            "jti": uuid.uuid4().hex, **claims}
    return pyjwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm="ES256",
                        headers={"kid": "k1"})


def _with_assertion(http, assertion: str):  # type: ignore[no-untyped-def]
    return _cc(http, data={"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                           "client_assertion": assertion})


def test_private_key_jwt_with_replay_protection(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    key = _es256_client(provider)
    assertion = _assertion(key)
    assert _with_assertion(http, assertion).status_code == 200
    replay = _with_assertion(http, assertion)
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"
    assert _with_assertion(http, _assertion(key, aud="https://localhost:8443")).status_code == 200  # issuer as aud
    other = ec.generate_private_key(ec.SECP256R1())
    for bad in (_assertion(other), _assertion(key, aud="https://elsewhere.example/token"),
                _assertion(key, exp=int(time.time()) - 120), _assertion(key, exp=int(time.time()) + 86_400),
                _assertion(key, jti=None), _assertion(key, iss="someone"), "not-a-jwt"):
        assert _with_assertion(http, bad).status_code == 401


def _introspect(http, token: str, auth, **extra):  # type: ignore[no-untyped-def]
    return http.post("/introspect", data={"token": token, **extra}, auth=auth)


def test_introspection(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    _, rs_secret = register(provider, "rs", grant_types=["client_credentials"], redirect_uris=[], introspect=True)
    _, plain_secret = register(provider, "plain", grant_types=["client_credentials"], redirect_uris=[],
                               scopes=["things:read"])
    register(provider, "webapp", public=True)
    response, verifier, _ = code_flow(http)
    tokens = redeem(http, response["code"], verifier).json()
    rs = ("rs", rs_secret)
    active = _introspect(http, tokens["access_token"], rs)
    assert active.status_code == 200 and active.headers["cache-control"] == "no-store"
    body = active.json()
    assert body["active"] is True and body["client_id"] == "webapp" and body["token_type"] == "Bearer"
    assert body["scope"] == "openid profile things:read" and body["iss"] == "https://localhost:8443"
    for token in (tokens["id_token"], "garbage", tokens["access_token"][:-3] + "AAA", tokens["refresh_token"]):
        assert _introspect(http, token, rs).json() == {"active": False}  # refresh token of another client
    # Not allowed to introspect: anonymous, wrong secret, a client without the flag, a public client.
    assert http.post("/introspect", data={"token": tokens["access_token"]}).status_code == 401
    assert _introspect(http, tokens["access_token"], ("rs", "igs_wrong")).status_code == 401
    assert _introspect(http, tokens["access_token"], ("plain", plain_secret)).status_code == 401
    assert http.post("/introspect", data={"token": tokens["access_token"], "client_id": "webapp"}).status_code == 401
    # Revoked tokens are inactive. The public client names itself (RFC 7009 §2.1: only the
    # client a token was issued to may revoke it); without its client_id nothing is revoked.
    http.post("/revoke", data={"token": tokens["access_token"], "token_type_hint": "access_token"})
    assert _introspect(http, tokens["access_token"], rs).json()["active"] is True
    http.post("/revoke", data={"token": tokens["access_token"], "token_type_hint": "access_token",
                               "client_id": "webapp"})
    assert _introspect(http, tokens["access_token"], rs).json() == {"active": False}


def test_introspection_of_own_refresh_token(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    _, secret = register(provider, "webapp", introspect=True)
    response, verifier, _ = code_flow(http)
    tokens = redeem(http, response["code"], verifier, secret=secret).json()
    body = _introspect(http, tokens["refresh_token"], ("webapp", secret), token_type_hint="refresh_token").json()
    assert body["active"] is True and body["token_type"] == "refresh_token" and body["client_id"] == "webapp"
    refreshed = http.post("/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                          auth=("webapp", secret))
    assert refreshed.status_code == 200
    assert _introspect(http, tokens["refresh_token"], ("webapp", secret)).json() == {"active": False}


def test_third_party_refresh_token_needs_its_client(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    _, secret = register(provider, "webapp")
    register(provider, "other", public=True)
    response, verifier, _ = code_flow(http)
    tokens = redeem(http, response["code"], verifier, secret=secret).json()
    rt = tokens["refresh_token"]
    assert http.post("/token", data={"grant_type": "refresh_token", "refresh_token": rt}).status_code == 400
    other = http.post("/token", data={"grant_type": "refresh_token", "refresh_token": rt, "client_id": "other"})
    assert other.status_code == 400 and other.json()["error"] == "invalid_grant"
    own = http.post("/token", data={"grant_type": "refresh_token", "refresh_token": rt}, auth=("webapp", secret))
    assert own.status_code == 200, own.text
    narrowed = http.post("/token", data={"grant_type": "refresh_token", "refresh_token": own.json()["refresh_token"],
                                         "scope": "openid"}, auth=("webapp", secret))
    assert narrowed.json()["scope"] == "openid"


@pytest.mark.parametrize("ttl", [60, 3600])
def test_per_client_access_token_lifetime(lite: Provider, lite_http, ttl: int) -> None:  # type: ignore[no-untyped-def]
    register(lite, "webapp", public=True, access_token_ttl=ttl)
    response, verifier, _ = code_flow(lite_http)
    body = redeem(lite_http, response["code"], verifier).json()
    claims = Verifier(issuer="https://localhost:8443", audience="https://localhost:8443",
                      jwks=lite.keyring().public_jwks()).verify(body["access_token"])
    assert claims["exp"] - claims["iat"] == ttl == body["expires_in"]


# -- the client cache (client_credentials is answered from memory) --------------------------


def test_client_changes_made_elsewhere_are_seen_within_a_second(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    """The CLI or another node changes the table behind this server's back: a new secret works
    at once (a mismatch re-reads the row), the old one and a removed client stop within 1 s."""
    from idgate.services.clients import registry

    _, secret = register(provider, "svc", grant_types=["client_credentials"], redirect_uris=[], scopes=["things:read"])
    assert _cc(http, auth=("svc", secret)).status_code == 200  # now cached
    rotated = registry.rotate_secret(provider.sessions, "svc")  # as `idgate client rotate-secret` does
    assert _cc(http, auth=("svc", rotated)).status_code == 200  # at once
    time.sleep(1.05)
    assert _cc(http, auth=("svc", secret)).status_code == 401  # the old secret: gone within the bound
    assert _cc(http, auth=("svc", rotated)).status_code == 200
    registry.remove_client(provider.sessions, "svc")
    time.sleep(1.05)
    assert _cc(http, auth=("svc", rotated)).status_code == 401


def test_unknown_client_ids_cannot_grow_the_cache(provider: Provider) -> None:
    from idgate.services.clients.cache import ClientCache

    cache = ClientCache(provider.sessions, max_entries=50)
    for i in range(500):
        assert cache.load(f"made-up-{i}").view is None
    assert len(cache._entries) <= 50
    assert cache.load("x" * 500).view is None and "x" * 500 not in cache._entries


def test_every_service_token_is_an_audit_event(provider: Provider, http) -> None:  # type: ignore[no-untyped-def]
    """Issued on the event loop, recorded in batches: the log line at once, the row soon after."""
    from idgate.events import queries as event_queries

    _, secret = register(provider, "svc", grant_types=["client_credentials"], redirect_uris=[], scopes=["things:read"])
    jtis = set()
    for _ in range(5):
        token = _cc(http, auth=("svc", secret)).json()["access_token"]
        jtis.add(pyjwt.decode(token, options={"verify_signature": False})["jti"])
    provider.event_writer.flush()
    rows = event_queries.search(provider.sessions, kind="token.issued", actor="svc")
    assert {r.detail["jti"] for r in rows} == jtis
    assert all(r.client_id == "svc" and r.detail["grant"] == "client_credentials" for r in rows)


def test_batch_writer_is_bounded_and_flushes_on_close(provider: Provider, caplog: pytest.LogCaptureFixture) -> None:
    from idgate import events
    from idgate.events import queries as event_queries
    from idgate.events.rows import BatchWriter

    writer = BatchWriter(provider.sessions, interval=60, max_queued=3)
    for i in range(5):
        events.record_batched(writer, "test.batched", "success", actor=f"a{i}")
    writer.close()  # writes the three it kept, reports the two it could not keep
    assert event_queries.count(provider.sessions, "test.batched") == 3
    assert any('"event_rows_dropped"' in r.getMessage() and '"count": 2' in r.getMessage() for r in caplog.records)
