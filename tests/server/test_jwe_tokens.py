"""Encrypted access tokens for audiences with a registered key (issue 3, RFC 7516 / RFC 7519 §5.2)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey, RSAKey

from idgate.config.loading import load_settings
from idgate.errors import ConfigError, InvalidToken
from idgate.provider import Provider
from idgate.rs import Verifier
from idgate.server.app import create_app
from idgate.services import accounts, audiences

from support import GOOD_PASSWORD, Deployment, login

API = "https://api.example"


@pytest.fixture
def email_provider(deployment: Deployment) -> Iterator[Provider]:
    """A deployment that puts the (confidential) email claim into access tokens."""
    settings = load_settings(deployment.data, {"database_url": deployment.database_url or None,
                                               "profile_claims": ("email", "name")})
    p = Provider(settings)
    accounts.add_user(p.sessions, "alice", GOOD_PASSWORD, permissions=["things:read"], email="alice@example.com")
    yield p
    p.close()


@pytest.fixture
def email_client(email_provider: Provider) -> Iterator[TestClient]:
    with TestClient(create_app(email_provider), base_url="https://localhost:8443") as c:
        yield c


@pytest.mark.parametrize("key_type", ["EC", "RSA"])
def test_tokens_for_a_keyed_audience_are_nested_jwe(email_provider: Provider, email_client: TestClient,
                                                    key_type: str) -> None:
    private = ECKey.generate_key("P-256") if key_type == "EC" else RSAKey.generate_key(2048)
    audiences.add(email_provider.sessions, API, private.as_pem(private=False))
    reply = login(email_client, audience=API)
    assert reply.status_code == 200, reply.text
    token = reply.json()["access_token"]
    assert token.count(".") == 4 and b"alice@example.com" not in token.encode()
    jwks = email_provider.keyring().public_jwks()
    verifier = Verifier(issuer=email_provider.settings.issuer, audience=API, jwks=jwks,
                        decryption_key=private.as_dict(private=True))
    claims = verifier.verify(token)
    assert claims["email"] == "alice@example.com" and claims["aud"] == API
    with pytest.raises(InvalidToken):  # without the private key the token is useless
        Verifier(issuer=email_provider.settings.issuer, audience=API, jwks=jwks).verify(token)
    other = ECKey.generate_key("P-256")
    with pytest.raises(InvalidToken):
        Verifier(issuer=email_provider.settings.issuer, audience=API, jwks=jwks,
                 decryption_key=other.as_dict(private=True)).verify(token)


def test_confidential_claims_are_never_sent_in_a_readable_token(email_client: TestClient,
                                                                email_provider: Provider) -> None:
    audiences.add(email_provider.sessions, API)  # registered, but no encryption key
    reply = login(email_client, audience=API)
    assert reply.status_code == 400
    assert reply.json()["error"] == "invalid_target" and "encryption key" in reply.json()["error_description"]
    # refused before anything was issued: no grant started, no "issued" event
    from sqlalchemy import func, select

    from idgate.events import queries as event_queries
    from idgate.store.db import transaction
    from idgate.store.models import RefreshToken

    with transaction(email_provider.sessions) as session:
        assert session.scalar(select(func.count()).select_from(RefreshToken)) == 0
    assert event_queries.count(email_provider.sessions, "token.issued") == 0


def test_a_decrypting_verifier_refuses_plain_signed_tokens(client: TestClient, provider: Provider) -> None:
    token = login(client).json()["access_token"]
    key = ECKey.generate_key("P-256")
    strict = Verifier(issuer=provider.settings.issuer, audience=provider.settings.issuer,
                      jwks=provider.keyring().public_jwks(), decryption_key=key.as_dict(private=True))
    with pytest.raises(InvalidToken, match="encryption_required"):
        strict.verify(token)


def test_audience_registration_rules(provider: Provider) -> None:
    with pytest.raises(Exception):
        audiences.add(provider.sessions, "not a url")
    with pytest.raises(ConfigError):
        audiences.add(provider.sessions, API, b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    audiences.add(provider.sessions, API)
    with pytest.raises(Exception, match="already"):
        audiences.add(provider.sessions, API)
    assert [a.audience for a in audiences.list_all(provider.sessions)] == [API]
