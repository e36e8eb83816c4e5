"""What the rest of idgate sees of a registered client (:class:`ClientView`): never its secret hash.

Its :meth:`ClientView.as_dict` uses the RFC 7591 §2 client metadata names where one exists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from idgate.store.models_oauth import OAuthClient

@dataclass(frozen=True)
class ClientView:
    """What the rest of idgate sees of a client: never its secret hash."""

    client_id: str
    name: str
    public: bool
    auth_method: str
    grant_types: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    audiences: tuple[str, ...]
    jwks: dict[str, Any] | None
    introspect: bool
    skip_consent: bool
    access_token_ttl: int | None
    refresh_token_ttl: int | None
    created_at: datetime | None = None
    dpop_bound_access_tokens: bool = False  # RFC 9449 §5.2
    require_passkey: bool = False  # sign-ins must use a passkey (acr "phr")
    backchannel_logout_uri: str | None = None  # OIDC Back-Channel Logout 1.0 §2.2
    backchannel_logout_session_required: bool = False

    def as_dict(self) -> dict[str, Any]:
        """RFC 7591 §2 metadata names where one exists."""
        return {
            "client_id": self.client_id, "client_name": self.name,
            "client_type": "public" if self.public else "confidential",
            "token_endpoint_auth_method": self.auth_method, "grant_types": list(self.grant_types),
            "response_types": ["code"] if "authorization_code" in self.grant_types else [],
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "scope": " ".join(self.scopes), "audiences": list(self.audiences), "jwks": self.jwks,
            "introspect": self.introspect, "skip_consent": self.skip_consent,
            "access_token_ttl": self.access_token_ttl, "refresh_token_ttl": self.refresh_token_ttl,
            "dpop_bound_access_tokens": self.dpop_bound_access_tokens, "require_passkey": self.require_passkey,
            "backchannel_logout_uri": self.backchannel_logout_uri,
            "backchannel_logout_session_required": self.backchannel_logout_session_required,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


def view(row: OAuthClient) -> ClientView:
    return ClientView(
        client_id=row.client_id, name=row.name or row.client_id, public=row.public, auth_method=row.auth_method,
        grant_types=tuple(row.grant_types.split()), redirect_uris=tuple(json.loads(row.redirect_uris)),
        post_logout_redirect_uris=tuple(json.loads(row.post_logout_redirect_uris)),
        scopes=tuple(row.scopes.split()), audiences=tuple(json.loads(row.audiences)),
        jwks=json.loads(row.jwks) if row.jwks else None, introspect=row.introspect, skip_consent=row.skip_consent,
        access_token_ttl=row.access_token_ttl, refresh_token_ttl=row.refresh_token_ttl, created_at=row.created_at,
        dpop_bound_access_tokens=bool(row.dpop_bound_access_tokens), require_passkey=bool(row.require_passkey),
        backchannel_logout_uri=row.backchannel_logout_uri,
        backchannel_logout_session_required=bool(row.backchannel_logout_session_required),
    )
