"""Tokens for a user's authorization of a client, however it was given: an authorization code
(RFC 6749 §4.1.3) or an approved device (RFC 8628 §3.5). The access token (RFC 9068), a refresh
token when the client has the grant (its session remembers how the user signed in: auth_time,
amr, acr, sid, for OIDC Core §12.2), and an ID token when ``openid`` was granted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from idgate import clock, events
from idgate.errors import InvalidGrant
from idgate.provider import Provider
from idgate.services.client_tokens import TokenSet, refresh_lifetimes, third_party_access_token
from idgate.services.clients.view import ClientView
from idgate.services.oidc import id_token
from idgate.store import backchannel
from idgate.store import clients as repo
from idgate.store import users
from idgate.tokens import refresh
from idgate.tokens.access import token_type


@dataclass(frozen=True)
class UserAuthorization:
    """What the user granted and how they signed in to grant it."""

    user_id: str
    scope: str
    audience: str
    auth_time: int
    amr: str
    acr: str | None
    sid: str | None
    nonce: str | None = None


@dataclass(frozen=True)
class IssuedTokens:
    tokens: TokenSet
    jti: str  # of the access token, to deny it if the grant is replayed
    expires_at: datetime
    session_id: str | None  # of the refresh-token session, to end it likewise


def user_tokens(provider: Provider, session: Any, client: ClientView, granted: UserAuthorization, now: int,
                dpop_jkt: str | None, *, grant: str) -> IssuedTokens:
    """Issue, inside the caller's transaction; ``invalid_grant`` if the user is gone or disabled."""
    user_row = users.get(session, granted.user_id)
    if user_row is None or user_row.disabled:
        raise InvalidGrant(detail="user gone or disabled")
    user = users.view(user_row)
    scope = granted.scope.split()
    amr = granted.amr.split()
    access, claims = third_party_access_token(provider, user, client, scope, granted.audience, now,
                                              auth_time=granted.auth_time, amr=amr, dpop_jkt=dpop_jkt)
    jti = str(claims["jti"])
    refresh_token = session_id = None
    if "refresh_token" in client.grant_types:
        started, refresh_token = refresh.start(session, user_id=user.id, client_id=client.client_id,
                                               scope=granted.scope, audience=granted.audience,
                                               now=clock.from_timestamp(now),
                                               lifetimes=refresh_lifetimes(provider, client), amr=granted.amr,
                                               auth_time=granted.auth_time, acr=granted.acr, sid=granted.sid,
                                               # RFC 9449 §5: a public client's refresh tokens are
                                               # bound too; a confidential one authenticates instead.
                                               dpop_jkt=dpop_jkt if client.public else None)
        session_id = started.session_id
        if granted.sid:
            repo.link_session(session, session_id, granted.sid, client.client_id)
    if granted.sid and client.backchannel_logout_uri:  # this app is told when that session ends
        backchannel.record_client(session, granted.sid, client.client_id, user.id)
    events.record(None, "token.issued", "success", session=session, actor=user.id, client_id=client.client_id,
                  grant=grant, scope=granted.scope, aud=granted.audience, jti=jti, sid=session_id,
                  dpop_jkt=dpop_jkt)
    id_tok = None
    if "openid" in scope:
        id_tok = id_token(provider, user=user, client_id=client.client_id, scope=scope, now=now,
                          auth_time=granted.auth_time, nonce=granted.nonce, amr=amr, acr=granted.acr or "1",
                          sid=granted.sid, access_token=access)
    tokens = TokenSet(access_token=access, expires_in=int(claims["exp"]) - now, scope=granted.scope,
                      refresh_token=refresh_token, id_token=id_tok, token_type=token_type(dpop_jkt))
    return IssuedTokens(tokens, jti, clock.from_timestamp(int(claims["exp"])), session_id)
