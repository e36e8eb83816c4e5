"""Tokens for registered (third-party) clients (RFC 9068, RFC 8707): lifetimes, audience and
the access-token claims every client grant shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from idgate.config.schema import ACCESS_TTL_CEILING
from idgate.jose.jwe import encrypt_nested
from idgate.provider import Provider
from idgate.services.clients.view import ClientView
from idgate.services.issuance import TokenResponse, allowed_audiences, lifetimes
from idgate.store.users import UserView
from idgate.tokens import refresh
from idgate.tokens.access import access_token_claims, choose_audience, issue_access_token


@dataclass(frozen=True)
class TokenSet(TokenResponse):
    """A token response that may carry an ID token (OIDC Core §3.1.3.3)."""

    id_token: str | None = None

    def as_dict(self) -> dict[str, Any]:
        body = super().as_dict()
        if self.id_token is not None:
            body["id_token"] = self.id_token
        return body



def client_audience(provider: Provider, client: ClientView, requested: str | None) -> str:
    """RFC 8707: the client's registered audiences (that the server serves), else the server's."""
    settings = provider.settings
    served = allowed_audiences(provider)
    allowed = [a for a in client.audiences if a in served] or list(served)
    default = allowed[0] if client.audiences and allowed else settings.token_audience
    return choose_audience(requested, allowed, default)



def access_ttl(provider: Provider, client: ClientView) -> int:
    ttl = client.access_token_ttl or provider.settings.access_token_ttl
    return min(ttl, ACCESS_TTL_CEILING)


def refresh_lifetimes(provider: Provider, client: ClientView) -> refresh.Lifetimes:
    base = lifetimes(provider.settings)
    if client.refresh_token_ttl is None:
        return base
    absolute = min(base.absolute, timedelta(seconds=client.refresh_token_ttl))
    return refresh.Lifetimes(idle=min(base.idle, absolute), absolute=absolute)


def third_party_access_token(provider: Provider, user: UserView, client: ClientView, scope: list[str],
                             audience: str, now: int, *, auth_time: int, amr: list[str],
                             dpop_jkt: str | None = None, act: dict[str, Any] | None = None,
                             not_after: int | None = None) -> tuple[str, dict[str, Any]]:
    """An RFC 9068 access token for a registered client: permissions limited to the granted
    scope, no roles, and profile claims only when their scope was granted. Token exchange
    (RFC 8693 §4.1) adds who acts (``act``) and ends it no later than ``not_after``."""
    ttl = access_ttl(provider, client)
    if not_after is not None:
        ttl = max(1, min(ttl, not_after - now))
    claims = access_token_claims(user=user, issuer=provider.settings.issuer, audience=audience,
                                 client_id=client.client_id, scope=scope, ttl=ttl, now=now,
                                 auth_time=auth_time, amr=amr, dpop_jkt=dpop_jkt)
    if act is not None:
        claims["act"] = act
    claims.pop("roles", None)
    claims.pop("preferred_username", None)
    claims["permissions"] = [p for p in user.permissions if p in scope]
    return sign_for(provider, claims, audience), claims


def sign_for(provider: Provider, claims: dict[str, Any], audience: str) -> str:
    """Sign; for an audience with a registered encryption key, also encrypt (as first-party
    tokens are). Personal data (name, email) never goes in: apps get it from the ID token or
    /userinfo."""
    signed = issue_access_token(claims, provider.keyring().active)
    recipient = provider.audiences.encryption_key(audience)
    return encrypt_nested(signed, recipient) if recipient is not None else signed
