"""The client registry: rules, hashed secrets, the CLI, the admin API, and changes seen at once."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import inspect as sa_inspect
from typer.testing import CliRunner

from idgate import ids
from idgate.cli import app as cli_app
from idgate.errors import Conflict, InvalidRequest, NotFound
from idgate.provider import Provider
from idgate.services.clients import registry
from idgate.services.clients.metadata import ClientSpec
from idgate.store.db import transaction
from idgate.store.models_oauth import OAuthClient

from oauth_support import REDIRECT, register
from support import Deployment


@pytest.mark.parametrize("uri", [
    "https://app.example/*", "https://*.example/cb", "https://app.example/cb#x", "http://app.example/cb",
    "javascript:alert(1)", "data:text/html,hi", "file:///etc/passwd", "https://user:pw@app.example/cb",
    "/relative/cb", "myapp:/cb", " https://app.example/cb",
])
def test_bad_redirect_uris_are_refused(lite: Provider, uri: str) -> None:
    with pytest.raises(InvalidRequest):
        register(lite, redirect_uris=[uri])


@pytest.mark.parametrize("uri", ["https://app.example/cb?tenant=1", "http://127.0.0.1:8080/cb", "http://[::1]/cb",
                                 "http://localhost:3000/cb", "com.example.app:/oauth2redirect"])
def test_good_redirect_uris(lite: Provider, uri: str) -> None:
    client, _ = register(lite, redirect_uris=[uri])
    assert client.redirect_uris == (uri,)


@pytest.mark.parametrize("spec", [
    {"public": True, "grant_types": ["client_credentials"]},
    {"public": True, "introspect": True},
    {"grant_types": ["refresh_token"]},
    {"grant_types": ["password"]},
    {"redirect_uris": []},
    {"auth_method": "private_key_jwt"},                       # needs a JWKS
    {"access_token_ttl": 0}, {"access_token_ttl": 86_401},
    {"public": True, "auth_method": "client_secret_basic"},
])
def test_registration_rules(lite: Provider, spec: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidRequest):
        register(lite, "c1", **spec)


def test_secret_is_stored_only_as_a_hash(provider: Provider) -> None:
    client, secret = register(provider)
    assert secret is not None and secret.startswith("igs_") and len(secret) >= 47
    with transaction(provider.sessions) as session:
        row = session.get(OAuthClient, client.client_id)
        assert row is not None and row.secret_hash == ids.token_hash(secret) and secret not in row.secret_hash
    assert registry.check_client_secret(provider.sessions, "webapp", secret) is not None
    assert registry.check_client_secret(provider.sessions, "webapp", secret + "x") is None
    new = registry.rotate_secret(provider.sessions, "webapp")
    assert registry.check_client_secret(provider.sessions, "webapp", secret) is None
    assert registry.check_client_secret(provider.sessions, "webapp", new) is not None
    with pytest.raises(Conflict):
        register(provider)
    registry.remove_client(provider.sessions, "webapp")
    with pytest.raises(NotFound):
        registry.remove_client(provider.sessions, "webapp")


def test_cli_add_list_show_rotate_remove(deployment: Deployment, provider: Provider) -> None:
    runner = CliRunner()
    base = ["--data", str(deployment.data)] + (["--database", deployment.database_url] if deployment.database_url else [])
    added = runner.invoke(cli_app, ["client", "add", "cli-app", *base, "--grant", "authorization_code",
                                    "--grant", "refresh_token", "--redirect-uri", REDIRECT, "--scope", "openid",
                                    "--scope", "things:read", "--name", "CLI App"])
    assert added.exit_code == 0, added.output
    secret = added.output.split("client_secret (shown once, stored only as a hash): ")[1].split()[0]
    assert registry.check_client_secret(provider.sessions, "cli-app", secret) is not None
    public = runner.invoke(cli_app, ["client", "add", "spa", *base, "--public", "--redirect-uri", REDIRECT,
                                     "--scope", "openid"])
    assert public.exit_code == 0 and "client_secret" not in public.output
    listed = runner.invoke(cli_app, ["client", "list", *base, "--json"])
    rows = {c["client_id"]: c for c in json.loads(listed.output)}
    assert rows["cli-app"]["scope"] == "openid things:read" and rows["spa"]["token_endpoint_auth_method"] == "none"
    assert secret not in listed.output and "secret_hash" not in listed.output
    shown = json.loads(runner.invoke(cli_app, ["client", "show", "cli-app", *base]).output)
    assert shown["client_name"] == "CLI App" and shown["redirect_uris"] == [REDIRECT]
    rotated = runner.invoke(cli_app, ["client", "rotate-secret", "cli-app", *base])
    assert rotated.exit_code == 0 and secret not in rotated.output
    assert registry.check_client_secret(provider.sessions, "cli-app", secret) is None
    assert runner.invoke(cli_app, ["client", "remove", "cli-app", *base]).exit_code == 0
    assert registry.find_client(provider.sessions, "cli-app") is None


def _admin_token(http, deployment: Deployment) -> str:  # type: ignore[no-untyped-def]
    reply = http.post("/login", json={"username": "admin", "password": deployment.admin_password})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


def test_admin_api_needs_the_admin_scope(http, deployment: Deployment) -> None:  # type: ignore[no-untyped-def]
    from support import GOOD_PASSWORD

    assert http.get("/admin/clients").status_code == 401
    alice = http.post("/login", json={"username": "alice", "password": GOOD_PASSWORD}).json()["access_token"]
    denied = http.get("/admin/clients", headers={"Authorization": f"Bearer {alice}"})
    assert denied.status_code == 403 and 'insufficient_scope' in denied.headers["www-authenticate"]
    narrowed = http.post("/login", json={"username": "admin", "password": deployment.admin_password,
                                         "scope": "profile:read"}).json()["access_token"]
    assert http.get("/admin/clients", headers={"Authorization": f"Bearer {narrowed}"}).status_code == 403


def test_admin_api_manages_clients_and_the_server_sees_them_at_once(http, deployment: Deployment) -> None:  # type: ignore[no-untyped-def]
    auth = {"Authorization": f"Bearer {_admin_token(http, deployment)}"}
    body = {"client_id": "svc", "grant_types": ["client_credentials"], "scope": "things:read",
            "client_name": "Service"}
    created = http.post("/admin/clients", json=body, headers=auth)
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    secret = created.json()["client_secret"]
    token = http.post("/token", data={"grant_type": "client_credentials"}, auth=("svc", secret))
    assert token.status_code == 200, token.text
    assert http.post("/admin/clients", json=body, headers=auth).status_code == 409
    bad = http.post("/admin/clients", json={**body, "client_id": "x", "redirect_uris": ["https://a/*"],
                                            "grant_types": ["authorization_code"]}, headers=auth)
    assert bad.status_code == 400
    assert http.post("/admin/clients", json={**body, "surprise": 1}, headers=auth).status_code == 400
    listed = http.get("/admin/clients", headers=auth).json()["clients"]
    assert [c["client_id"] for c in listed] == ["idgate-cli", "svc"]  # the CLI's own, from `idgate init`
    assert not any("client_secret" in c for c in listed)
    assert http.get("/admin/clients/svc", headers=auth).json()["client_name"] == "Service"
    rotated = http.post("/admin/clients/svc/rotate-secret", headers=auth).json()["client_secret"]
    assert http.post("/token", data={"grant_type": "client_credentials"}, auth=("svc", secret)).status_code == 401
    assert http.post("/token", data={"grant_type": "client_credentials"}, auth=("svc", rotated)).status_code == 200
    assert http.delete("/admin/clients/svc", headers=auth).status_code == 204
    assert http.post("/token", data={"grant_type": "client_credentials"}, auth=("svc", rotated)).status_code == 401
    assert http.get("/admin/clients/svc", headers=auth).status_code == 404


def test_migration_creates_the_oauth_tables(provider: Provider) -> None:
    tables = set(sa_inspect(provider.engine).get_table_names())
    assert {"oauth_clients", "oauth_codes", "browser_sessions", "oauth_interactions", "oauth_consents",
            "oauth_assertion_jtis", "oauth_session_links"} <= tables
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from idgate.store import models_oauth
    from idgate.store.models import Base

    ours = {t for t in Base.metadata.tables if t in {m.__tablename__ for m in (
        models_oauth.OAuthClient, models_oauth.AuthorizationCode, models_oauth.BrowserSession,
        models_oauth.Interaction, models_oauth.Consent, models_oauth.AssertionJti, models_oauth.SessionLink)}}
    with provider.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    mine = [d for d in diffs if any(t in repr(d) for t in ours)]
    assert mine == []
    assert ClientSpec
