"""The client credentials grant (RFC 6749 §4.4): a token for a confidential client itself."""

from __future__ import annotations

from idgate import clock, ids
from idgate.errors import InvalidScope, UnauthorizedClient
from idgate.provider import Provider
from idgate import events
from idgate.services.client_tokens import TokenSet, access_ttl, client_audience, sign_for
from idgate.services.clients.view import ClientView
from idgate.services.oidc import OIDC_SCOPES
from idgate.tokens.access import bind, parse_scope, token_type


def client_credentials(provider: Provider, client: ClientView, params: dict[str, str],
                       now: int | None = None, *, dpop_jkt: str | None = None) -> TokenSet:
    """RFC 6749 §4.4: a token for the client itself: ``sub`` = client id, no user claims."""
    issued = clock.now() if now is None else now
    if client.public or "client_credentials" not in client.grant_types:
        raise UnauthorizedClient(detail=f"{client.client_id} may not use client_credentials")
    permitted = [s for s in client.scopes if s not in OIDC_SCOPES]
    requested = parse_scope(params.get("scope"))
    if requested is not None and any(s not in permitted for s in requested):
        raise InvalidScope(detail="scope not registered for the client")
    scope = list(requested) if requested is not None else permitted
    audience = client_audience(provider, client, params.get("resource") or params.get("audience"))
    ttl = access_ttl(provider, client)
    claims = {"iss": provider.settings.issuer, "sub": client.client_id, "aud": audience, "exp": issued + ttl,
              "iat": issued, "nbf": issued, "jti": ids.jti(), "client_id": client.client_id, "scope": " ".join(scope)}
    bind(claims, dpop_jkt)
    token = sign_for(provider, claims, audience)
    # Runs on the event loop (the token endpoint's hot path): the row goes in the next batch.
    events.record_batched(provider.event_writer, "token.issued", "success", actor=client.client_id,
                          client_id=client.client_id, grant="client_credentials", scope=" ".join(scope), aud=audience,
                          jti=claims["jti"], dpop_jkt=dpop_jkt)
    return TokenSet(access_token=token, expires_in=ttl, scope=" ".join(scope), token_type=token_type(dpop_jkt))
