"""Token-endpoint grants and the token lifecycle: refresh (RFC 6749 §6), revocation (RFC 7009),
logout. Plain functions taking a Provider; the endpoints only parse and render."""

from __future__ import annotations

import logging
from typing import Any

from idgate import clock
from idgate.errors import InvalidGrant, InvalidToken
from idgate.provider import Provider
from idgate.services import events
from idgate.services.issuance import TokenResponse, lifetimes, mint_access_token
from idgate.store import tokens as token_rows
from idgate.store import users
from idgate.store.db import transaction
from idgate.tokens import refresh
from idgate.tokens.access import grant_scope, parse_scope

log = logging.getLogger("idgate.events")


def refresh_grant(provider: Provider, token: str, *, client_id: str | None, scope: str | None = None,
                  now: int | None = None, client_ip: str | None = None) -> TokenResponse:
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
            grant, next_token = refresh.rotate(session, token, client_id, clock.from_timestamp(issued_at),
                                               lifetimes(provider.settings))
            view = users.view_by_id(session, grant.user_id)
            if view is None or view.disabled:
                raise InvalidGrant(detail="user gone or disabled")
            login_session = token_rows.get_session(session, grant.session_id)
            amr = tuple(login_session.amr.split()) if login_session is not None and login_session.amr else ("pwd",)
    except refresh.ReuseDetected as exc:
        # The transaction was rolled back by the raise; revoke the family in a fresh one.
        owner, family = _revoke_after_reuse(provider, token, issued_at)
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
                               now=issued_at, amr=amr)
    events.record(provider.sessions, "token.refreshed", "success", actor=view.id, client_id=grant.client_id,
                  sid=grant.session_id, family=grant.family_id)
    return TokenResponse(access_token=access, expires_in=provider.settings.access_token_ttl,
                         scope=" ".join(granted), refresh_token=next_token)


def _revoke_after_reuse(provider: Provider, token: str, now: int) -> tuple[str | None, str | None]:
    from idgate import ids

    with transaction(provider.sessions) as session:
        row = token_rows.find(session, ids.token_hash(token))
        if row is not None:
            token_rows.revoke_family(session, row.family_id, clock.from_timestamp(now))
            token_rows.end_session(session, row.session_id, clock.from_timestamp(now))
            return row.user_id, row.family_id
    return None, None


def _verified_access_claims(provider: Provider, token: str) -> dict[str, Any] | None:
    from idgate.server.app import build_verifier  # the same checks as every other access-token use

    try:
        return build_verifier(provider).verify(token)
    except InvalidToken:
        return None


def revoke_token(provider: Provider, token: str, *, hint: str | None, client_id: str | None) -> None:
    """RFC 7009 §2.1-2.2: revoke a refresh token's family, or deny-list an access token's jti.
    Unknown or invalid tokens are not an error (the answer is 200 either way)."""
    from idgate import ids

    now = clock.utcnow()
    if hint != "access_token":
        with transaction(provider.sessions) as session:
            row = token_rows.find(session, ids.token_hash(token))
            if refresh.revoke(session, token, client_id, now):
                events.record(None, "token.revoked", "success", session=session, actor=row.user_id if row else None,
                              client_id=client_id, type="refresh_token", family=row.family_id if row else None)
                return
    claims = _verified_access_claims(provider, token)
    if claims is None or (client_id is not None and claims.get("client_id") != client_id):
        return
    with transaction(provider.sessions) as session:
        token_rows.deny_jti(session, str(claims["jti"]), clock.from_timestamp(int(claims["exp"])))
        events.record(None, "token.revoked", "success", session=session, actor=str(claims.get("sub")),
                      client_id=client_id, type="access_token", jti=str(claims["jti"]))
    if provider.settings.redis_url:
        # Services using idgate.rs.RedisDenyList see the revocation before the token expires.
        from idgate.rs.denylist import publish_revoked

        try:
            publish_revoked(provider.settings.redis_url, str(claims["jti"]), int(claims["exp"]))
        except Exception:  # the database deny-list above is the record; Redis is a broadcast
            log.warning('{"event": "revocation_broadcast_failed"}')


def logout(provider: Provider, *, refresh_token: str | None, access_token: str | None) -> None:
    """End the login session behind a refresh token, and deny-list the presented access token."""
    now = clock.utcnow()
    with transaction(provider.sessions) as session:
        if refresh_token:
            session_id = refresh.session_of(session, refresh_token)
            if session_id is not None:
                token_rows.end_session(session, session_id, now)
                login_session = token_rows.get_session(session, session_id)
                events.record(None, "session.ended", "success", session=session,
                              actor=login_session.user_id if login_session else None, sid=session_id, how="logout")
    if access_token:
        revoke_token(provider, access_token, hint="access_token", client_id=None)


def is_revoked(provider: Provider, jti: str) -> bool:
    with transaction(provider.sessions) as session:
        return token_rows.is_denied(session, jti)
