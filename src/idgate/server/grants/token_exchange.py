"""``grant_type=urn:ietf:params:oauth:grant-type:token-exchange`` (RFC 8693 §2.1): a backend
trades a user's access token for one addressed to the next service."""

from __future__ import annotations

from idgate.errors import InvalidClient
from idgate.provider import Provider
from idgate.services.clients.view import ClientView
from idgate.services.token_exchange import ExchangedToken, exchange


def grant(provider: Provider, params: dict[str, str], client: ClientView | None,
          dpop_jkt: str | None) -> ExchangedToken:
    if client is None or client.public:  # §2.1: the client authenticates; a public one cannot
        raise InvalidClient(detail="token exchange needs an authenticated confidential client")
    return exchange(provider, client, params, dpop_jkt=dpop_jkt)
