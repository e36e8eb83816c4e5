"""Authorization codes (RFC 6749 §4.1.2-4.1.3, RFC 7636 §4.6 PKCE, RFC 9700 §4.5 replay):
issued after the interaction, redeemed once at the token endpoint for tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any

from idgate import clock, ids
from idgate.errors import InvalidGrant, InvalidRequest, UnauthorizedClient
from idgate.provider import Provider
from idgate import events
from idgate.services.authorize_request import AuthRequest
from idgate.services.client_tokens import TokenSet
from idgate.services.user_tokens import UserAuthorization, user_tokens
from idgate.services.clients.view import ClientView
from idgate.services.interaction_flow import grantable_scope
from idgate.services.oidc import acr_of
from idgate.store import clients as repo
from idgate.store import tokens as token_rows
from idgate.store.db import transaction
from idgate.store.models_oauth import AuthorizationCode
from idgate.store.users import UserView

CODE_TTL = 60  # seconds; RFC 6749 §4.1.2 recommends at most 10 minutes
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")  # RFC 7636 §4.1


def issue_code(provider: Provider, req: AuthRequest, user: UserView, *, auth_time: int, amr: str, sid: str | None,
               now: int | None = None) -> str:
    """A 256-bit code; only its hash is stored, with everything the token request must match."""
    issued = clock.now() if now is None else now
    code = "igc_" + ids.jti() + ids.jti()
    with transaction(provider.sessions) as session:
        repo.save_code(session, AuthorizationCode(
            code_hash=ids.token_hash(code), client_id=req.client_id, user_id=user.id, redirect_uri=req.redirect_uri,
            scope=" ".join(grantable_scope(req.scope, user)), audience=req.audience, nonce=req.nonce,
            code_challenge=req.code_challenge, auth_time=auth_time, amr=amr,
            acr=acr_of(amr), sid=sid,
            created_at=clock.from_timestamp(issued), expires_at=clock.from_timestamp(issued + CODE_TTL),
            dpop_jkt=req.dpop_jkt,
        ))
        if issued % 16 == 0:  # now and then, sweep codes long expired
            repo.purge_codes(session, clock.from_timestamp(issued - 86_400))
    return code



def pkce_matches(verifier: str, challenge: str) -> bool:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return hmac.compare_digest(computed, challenge)


def _revoke_issued(session: Any, row: AuthorizationCode, now: int) -> None:
    """RFC 6749 §4.1.2 / RFC 9700 §4.5: a replayed code revokes what it issued."""
    when = clock.from_timestamp(now)
    if row.login_session_id:
        token_rows.end_session(session, row.login_session_id, when)
    if row.access_jti and row.access_expires_at:
        token_rows.deny_jti(session, row.access_jti, row.access_expires_at)


def exchange_code(provider: Provider, client: ClientView, params: dict[str, str], now: int | None = None, *,
                  dpop_jkt: str | None = None) -> TokenSet:
    issued = clock.now() if now is None else now
    if "authorization_code" not in client.grant_types:
        raise UnauthorizedClient(detail=f"{client.client_id} lacks authorization_code")
    code = params.get("code") or ""
    verifier = params.get("code_verifier") or ""
    redirect_uri = params.get("redirect_uri") or ""
    if not code:
        raise InvalidRequest("The 'code' parameter is required.")
    if not verifier:
        raise InvalidRequest("The 'code_verifier' parameter is required (PKCE).")
    if not _VERIFIER.fullmatch(verifier):
        raise InvalidGrant(detail="malformed code_verifier")
    reused = False
    # The tokens are signed inside the transaction below, after it has written; read the key
    # ring first, so that its once-a-second check (which may retire keys, a write) does not
    # run there and wait on this transaction's own write lock (SQLite).
    provider.keyring()
    with transaction(provider.sessions) as session:
        row = repo.find_code(session, ids.token_hash(code))
        if row is None:
            raise InvalidGrant(detail="unknown authorization code")
        if row.used_at is not None:
            _revoke_issued(session, row, issued)
            reused = True
        else:
            if row.client_id != client.client_id:
                raise InvalidGrant(detail="code issued to another client")
            if clock.from_timestamp(issued) >= row.expires_at:
                raise InvalidGrant(detail="expired authorization code")
            if redirect_uri != row.redirect_uri:
                raise InvalidGrant(detail="redirect_uri differs from the authorization request")
            if not pkce_matches(verifier, row.code_challenge):
                raise InvalidGrant(detail="PKCE verifier does not match")
            if row.dpop_jkt is not None and row.dpop_jkt != dpop_jkt:
                # RFC 9449 §10.1: the code was requested for one key; only a proof of it redeems it.
                raise InvalidGrant(detail="authorization code bound to another DPoP key" if dpop_jkt
                                   else "authorization code bound to a DPoP key; send a DPoP proof")
            if not repo.spend_code(session, row.code_hash, clock.from_timestamp(issued)):
                reused = True  # lost a race with another use: the row is re-read below
        if not reused:
            return _tokens_for_code(provider, session, client, row, issued, dpop_jkt)
    if reused:
        with transaction(provider.sessions) as session:
            row = repo.find_code(session, ids.token_hash(code))
            if row is not None:
                _revoke_issued(session, row, issued)
        events.record(provider.sessions, "token.code_reuse", "refused", actor=row.user_id if row else None,
                      client_id=client.client_id, action="tokens_revoked")
    raise InvalidGrant(detail="authorization code reuse; tokens issued from it are revoked")


def _tokens_for_code(provider: Provider, session: Any, client: ClientView, row: AuthorizationCode,
                     now: int, dpop_jkt: str | None) -> TokenSet:
    issued = user_tokens(provider, session, client, UserAuthorization(
        user_id=row.user_id, scope=row.scope, audience=row.audience, auth_time=row.auth_time, amr=row.amr,
        acr=row.acr, sid=row.sid, nonce=row.nonce), now, dpop_jkt, grant="authorization_code")
    row.access_jti, row.access_expires_at, row.login_session_id = issued.jti, issued.expires_at, issued.session_id
    return issued.tokens
