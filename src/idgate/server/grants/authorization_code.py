"""``grant_type=authorization_code`` (RFC 6749 §4.1.3, RFC 7636 §4.5): PKCE always."""

from __future__ import annotations

from idgate.errors import InvalidClient
from idgate.provider import Provider
from idgate.services.authorization_codes import exchange_code
from idgate.services.client_tokens import TokenSet
from idgate.services.clients.view import ClientView


def grant(provider: Provider, params: dict[str, str], client: ClientView | None, dpop_jkt: str | None) -> TokenSet:
    if client is None:
        # Public clients send client_id; confidential ones authenticate. Nobody is anonymous here.
        raise InvalidClient(detail="authorization_code without a registered client")
    return exchange_code(provider, client, params, dpop_jkt=dpop_jkt)
