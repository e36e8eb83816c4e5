"""``grant_type=refresh_token`` (RFC 6749 §6): rotation with reuse detection (RFC 9700 §4.14)."""

from __future__ import annotations

from idgate.provider import Provider
from idgate.server.forms import required
from idgate.services.clients.view import ClientView
from idgate.services.issuance import TokenResponse
from idgate.services.refresh_grants import client_refresh, refresh_grant, refuse_foreign_refresh_token


def grant(provider: Provider, params: dict[str, str], client: ClientView | None,
          dpop_jkt: str | None) -> TokenResponse:
    token = required(params, "refresh_token")
    if client is not None:  # a registered client (issue 4): its own tokens, its own scope rules
        return client_refresh(provider, client, token, params.get("scope"), dpop_jkt=dpop_jkt)
    # No registered client named: a first-party session's token, and only such a token.
    refuse_foreign_refresh_token(provider, token)
    return refresh_grant(provider, token, client_id=params.get("client_id"), scope=params.get("scope"),
                         dpop_jkt=dpop_jkt)
