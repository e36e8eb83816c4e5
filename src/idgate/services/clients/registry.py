"""Registering, reading and removing clients, and rotating their secrets (the CLI's and the
admin API's operations on the client registry, RFC 6749 §2)."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session, sessionmaker

from idgate import ids
from idgate.errors import Conflict, InvalidRequest, NotFound
from idgate.services.clients.credentials import SECRET_METHODS, new_secret, secret_matches
from idgate.services.clients.metadata import ClientSpec, validate
from idgate.services.clients.view import ClientView, view
from idgate.store import clients as repo
from idgate.store.db import transaction
from idgate.store.models_oauth import OAuthClient


def add_client(sessions: sessionmaker[Session], spec: ClientSpec, *,
               dpop_default: bool = False) -> tuple[ClientView, str | None]:
    """Register a client; returns it and its secret (shown once), or None for keyless clients.
    ``dpop_default``: whether a spec that does not say requires DPoP (RFC 9449 §5.2)."""
    spec = validate(spec)
    dpop_bound = dpop_default if spec.dpop_bound_access_tokens is None else spec.dpop_bound_access_tokens
    secret = new_secret() if spec.auth_method in SECRET_METHODS else None
    row = OAuthClient(
        client_id=spec.client_id, name=spec.name or spec.client_id, public=spec.public,
        secret_hash=ids.token_hash(secret) if secret else None, auth_method=spec.auth_method or "none",
        grant_types=" ".join(spec.grant_types), redirect_uris=json.dumps(spec.redirect_uris),
        post_logout_redirect_uris=json.dumps(spec.post_logout_redirect_uris), scopes=" ".join(spec.scopes),
        audiences=json.dumps(spec.audiences), jwks=json.dumps(spec.jwks) if spec.jwks else None,
        introspect=spec.introspect, skip_consent=spec.skip_consent, access_token_ttl=spec.access_token_ttl,
        refresh_token_ttl=spec.refresh_token_ttl, dpop_bound_access_tokens=dpop_bound,
        require_passkey=spec.require_passkey, backchannel_logout_uri=spec.backchannel_logout_uri,
        backchannel_logout_session_required=spec.backchannel_logout_session_required,
    )
    with transaction(sessions) as session:
        if not repo.add_client(session, row):
            raise Conflict(f"Client {spec.client_id!r} already exists.")
        return view(row), secret


def list_clients(sessions: sessionmaker[Session]) -> list[ClientView]:
    with transaction(sessions) as session:
        return [view(r) for r in repo.list_clients(session)]


def get_client(session: Session, client_id: str) -> ClientView | None:
    row = repo.get_client(session, client_id)
    return view(row) if row is not None else None


def find_client(sessions: sessionmaker[Session], client_id: str) -> ClientView | None:
    """Read from the database every time, so a running server sees changes at once."""
    with transaction(sessions) as session:
        return get_client(session, client_id)


def require_client(sessions: sessionmaker[Session], client_id: str) -> ClientView:
    found = find_client(sessions, client_id)
    if found is None:
        raise NotFound(f"No client {client_id!r}.")
    return found


def remove_client(sessions: sessionmaker[Session], client_id: str) -> None:
    """Remove a client: its codes and consents go; its refresh tokens stop working because every
    use checks the client still exists."""
    with transaction(sessions) as session:
        if not repo.delete_client(session, client_id):
            raise NotFound(f"No client {client_id!r}.")


def rotate_secret(sessions: sessionmaker[Session], client_id: str) -> str:
    """A new secret replaces the old one at once (the old one stops working)."""
    with transaction(sessions) as session:
        row = repo.get_client(session, client_id)
        if row is None:
            raise NotFound(f"No client {client_id!r}.")
        if row.auth_method not in SECRET_METHODS:
            raise InvalidRequest(f"Client {client_id!r} uses {row.auth_method}; it has no secret to rotate.")
        secret = new_secret()
        row.secret_hash = ids.token_hash(secret)
        return secret


def check_client_secret(sessions: sessionmaker[Session], client_id: str, presented: str) -> ClientView | None:
    with transaction(sessions) as session:
        row = repo.get_client(session, client_id)
        stored = row.secret_hash if row is not None and row.auth_method in SECRET_METHODS else None
        if not secret_matches(stored, presented) or row is None:
            return None
        return view(row)
