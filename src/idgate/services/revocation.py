"""Revocation (RFC 7009 §2) and logout: refresh-token families end, access-token ids go on the
deny-list (and to Redis, for services that subscribe)."""

from __future__ import annotations

import logging
from typing import Any

from idgate import clock, ids
from idgate.errors import InvalidToken
from idgate.provider import Provider
from idgate import events
from idgate.services.access_verifier import served_verifier
from idgate.store import tokens as token_rows
from idgate.store.db import transaction
from idgate.tokens import refresh

log = logging.getLogger("idgate.events")


def _verified_access_claims(provider: Provider, token: str) -> dict[str, Any] | None:
    try:
        return served_verifier(provider).verify(token, allow_bound=True)
    except InvalidToken:
        return None


def revoke_token(provider: Provider, token: str, *, hint: str | None, client_id: str | None) -> None:
    """RFC 7009 §2.1-2.2: revoke a refresh token's family, or deny-list an access token's jti.
    Unknown or invalid tokens are not an error (the answer is 200 either way)."""
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
