"""The refresh grant (RFC 6749 §6, RFC 9700 §4.14 rotation with reuse detection), for
first-party sessions and for registered clients (OIDC Core §12: refreshed ID tokens); and the
rule that keeps a registered client's refresh tokens its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from idgate import clock, ids
from idgate.errors import InvalidGrant, InvalidScope, UnauthorizedClient
from idgate.services.clients.first_party import FIRST_PARTY_CLIENT_ID
from idgate.provider import Provider
from idgate import events
from idgate.services.client_tokens import TokenSet, refresh_lifetimes, third_party_access_token
from idgate.services.clients.view import ClientView
from idgate.services.issuance import TokenResponse, lifetimes, mint_access_token
from idgate.services.oidc import OIDC_SCOPES, id_token
from idgate.store import tokens as token_rows
from idgate.store import users
from idgate.store.db import transaction
from idgate.store.models_oauth import AuthorizationCode
from idgate.tokens import refresh
from idgate.tokens.access import grant_scope, parse_scope, token_type


def refresh_grant(provider: Provider, token: str, *, client_id: str | None, scope: str | None = None,
                  now: int | None = None, client_ip: str | None = None,
                  dpop_jkt: str | None = None) -> TokenResponse:
    """Spend a refresh token, return a new access token and the next refresh token.

    Failed attempts are throttled per client IP (issue 5) before the token is looked up; a
    success gives its attempt back, so clients holding valid tokens are not slowed down."""
    from idgate.throttle import TOKEN, Throttled, throttle_for

    issued_at = clock.now() if now is None else now
    ip = client_ip or events.current_request().ip or "-"
    throttle = throttle_for(provider)
    decision = throttle.hit(TOKEN, ip)
    if not decision.allowed:
        events.record(provider.sessions, "token.throttled", "throttled", dedupe=ip, client_id=client_id,
                      retry_after=round(decision.retry_after, 1))
        raise Throttled(decision.retry_after, detail="token endpoint back-off")
    try:
        with transaction(provider.sessions) as session:
            # First-party apps are public clients: their refresh tokens carry the DPoP key (§5).
            grant, next_token = refresh.rotate(session, token, client_id, clock.from_timestamp(issued_at),
                                               lifetimes(provider.settings), dpop_jkt)
            view = users.view_by_id(session, grant.user_id)
            if view is None or view.disabled:
                raise InvalidGrant(detail="user gone or disabled")
            login_session = token_rows.get_session(session, grant.session_id)
            amr = tuple(login_session.amr.split()) if login_session is not None and login_session.amr else ("pwd",)
    except refresh.ReuseDetected as exc:
        # The transaction was rolled back by the raise; revoke the family in a fresh one.
        owner, family = revoke_after_reuse(provider, token, issued_at)
        events.record(provider.sessions, "token.refresh_reuse", "refused", actor=owner, client_id=client_id,
                      family=family, action="family_revoked")
        raise InvalidGrant(detail=exc.detail) from None
    except InvalidGrant as exc:
        events.record(provider.sessions, "token.refresh", "failure", client_id=client_id,
                      reason=(exc.detail or "invalid_grant")[:64])
        raise
    throttle.refund(TOKEN, ip)
    # The token keeps the scope it was granted, narrowed to what the user still holds;
    # RFC 6749 §6 lets the client ask for less, never more.
    still_permitted = [s for s in grant.scope.split() if s in view.permissions]
    granted = grant_scope(parse_scope(scope), still_permitted)
    access = mint_access_token(provider, view, client_id=grant.client_id, scope=granted, audience=grant.audience,
                               now=issued_at, amr=amr, dpop_jkt=dpop_jkt)
    events.record(provider.sessions, "token.refreshed", "success", actor=view.id, client_id=grant.client_id,
                  sid=grant.session_id, family=grant.family_id)
    return TokenResponse(access_token=access, expires_in=provider.settings.access_token_ttl,
                         scope=" ".join(granted), refresh_token=next_token, token_type=token_type(dpop_jkt))


def revoke_after_reuse(provider: Provider, token: str, now: int) -> tuple[str | None, str | None]:
    with transaction(provider.sessions) as session:
        row = token_rows.find(session, ids.token_hash(token))
        if row is not None:
            token_rows.revoke_family(session, row.family_id, clock.from_timestamp(now))
            token_rows.end_session(session, row.session_id, clock.from_timestamp(now))
            return row.user_id, row.family_id
    return None, None



def client_refresh(provider: Provider, client: ClientView, token: str, scope: str | None,
                   now: int | None = None, *, dpop_jkt: str | None = None) -> TokenSet:
    """Refresh for a registered client: the token must be this client's (RFC 6749 §6); the scope
    stays within what was granted, what the client is registered for and what the user still holds."""
    issued = clock.now() if now is None else now
    if "refresh_token" not in client.grant_types:
        raise UnauthorizedClient(detail=f"{client.client_id} lacks refresh_token")
    try:
        with transaction(provider.sessions) as session:
            grant, next_token = refresh.rotate(session, token, client.client_id, clock.from_timestamp(issued),
                                               refresh_lifetimes(provider, client), dpop_jkt)
            user = users.view_by_id(session, grant.user_id)
            if user is None or user.disabled:
                raise InvalidGrant(detail="user gone or disabled")
            started = token_rows.get_session(session, grant.session_id)
            auth_time = int(started.created_at.timestamp()) if started is not None else issued
            amr = started.amr.split() if started is not None else ["pwd"]
            origin = (_original_authentication(session, grant.session_id, started)
                      if "openid" in grant.scope.split() else None)
            if origin is not None:
                auth_time = origin.auth_time  # the login itself, not when its code was redeemed
    except refresh.ReuseDetected as exc:
        owner, family = revoke_after_reuse(provider, token, issued)
        events.record(provider.sessions, "token.refresh_reuse", "refused", actor=owner, client_id=client.client_id,
                      family=family, action="family_revoked")
        raise InvalidGrant(detail=exc.detail) from None
    except InvalidGrant as exc:
        events.record(provider.sessions, "token.refresh", "failure", client_id=client.client_id,
                      reason=(exc.detail or "invalid_grant")[:64])
        raise
    still = [s for s in grant.scope.split() if s in client.scopes and (s in OIDC_SCOPES or s in user.permissions)]
    requested = parse_scope(scope)
    if requested is not None and any(s not in still for s in requested):
        raise InvalidScope(detail="refresh may only narrow the scope")
    granted = list(requested) if requested is not None else still
    access, claims = third_party_access_token(provider, user, client, granted, grant.audience, issued,
                                              auth_time=auth_time, amr=amr, dpop_jkt=dpop_jkt)
    events.record(provider.sessions, "token.refreshed", "success", actor=user.id, client_id=client.client_id,
                  sid=grant.session_id, family=grant.family_id, jti=claims["jti"])
    id_tok = None
    if "openid" in granted and origin is not None:
        # OIDC Core §12.2: same sub and aud, auth_time/amr/acr/sid of the original authentication,
        # a new iat and an at_hash for this access token. No nonce: it belongs to the authentication
        # request, and a refreshed ID token SHOULD NOT carry it (§12.2, errata set 2).
        id_tok = id_token(provider, user=user, client_id=client.client_id, scope=granted, now=issued,
                          auth_time=origin.auth_time, nonce=None, amr=origin.amr.split(), acr=origin.acr,
                          sid=origin.sid, access_token=access)
    return TokenSet(access_token=access, expires_in=int(claims["exp"]) - issued, scope=" ".join(granted),
                    refresh_token=next_token, id_token=id_tok, token_type=token_type(dpop_jkt))


@dataclass(frozen=True)
class _Authentication:
    auth_time: int
    amr: str
    acr: str
    sid: str | None


def _original_authentication(session: Any, login_session_id: str, started: Any) -> _Authentication | None:
    """How and when the user authenticated for a refresh-token session: kept on the session
    since migration 0006. A session from before that falls back to the authorization code it
    was started with (codes are purged a day after they expire; after that such an old grant
    gets no ID token rather than one whose auth_time is not the login's - OIDC Core §12.2 lets
    a refresh response leave it out)."""
    if started is not None and started.auth_time is not None:
        return _Authentication(auth_time=started.auth_time, amr=started.amr, acr=started.acr, sid=started.sid)
    row = session.execute(select(AuthorizationCode.auth_time, AuthorizationCode.amr, AuthorizationCode.acr,
                                 AuthorizationCode.sid)
                          .where(AuthorizationCode.login_session_id == login_session_id).limit(1)).first()
    return _Authentication(auth_time=row[0], amr=row[1], acr=row[2], sid=row[3]) if row is not None else None


def refuse_foreign_refresh_token(provider: Provider, token: str) -> None:
    """A refresh request with no registered client may only spend a first-party token; a third-party
    client's refresh token needs that client's authentication (RFC 6749 §6)."""
    with transaction(provider.sessions) as session:
        row = token_rows.find(session, ids.token_hash(token))
    if row is not None and row.client_id != FIRST_PARTY_CLIENT_ID:
        raise InvalidGrant(detail="refresh token of a registered client presented without client authentication")
