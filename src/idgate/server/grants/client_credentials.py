"""``grant_type=client_credentials`` (RFC 6749 §4.4): confidential clients only."""

from __future__ import annotations

from idgate.errors import InvalidClient
from idgate.provider import Provider
from idgate.services.client_credentials import client_credentials
from idgate.services.client_tokens import TokenSet
from idgate.services.clients.view import ClientView


def grant(provider: Provider, params: dict[str, str], client: ClientView | None, dpop_jkt: str | None) -> TokenSet:
    if client is None or client.public:
        raise InvalidClient(detail="client_credentials needs an authenticated confidential client")
    return client_credentials(provider, client, params, dpop_jkt=dpop_jkt)
