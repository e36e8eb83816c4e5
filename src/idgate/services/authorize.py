"""The authorization code flow (RFC 6749 §4.1, OAuth 2.1, RFC 7636 PKCE, RFC 9207 ``iss``),
client credentials (§4.4) and refresh for registered clients: plain functions, no HTTP.

Authorization requests are checked in the order RFC 6749 §4.1.2.1 needs: an unknown client or
a redirect URI that is not registered *exactly* (a loopback IP one: up to its port, RFC 8252
§7.3) is shown to the user and never redirected to; everything else is reported to the (now
trusted) redirect URI with ``state`` and ``iss``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from idgate import clock, ids
from idgate.config import ACCESS_TTL_CEILING
from idgate.errors import IdgateError, InvalidGrant, InvalidRequest, InvalidScope, UnauthorizedClient
from idgate.provider import Provider
from idgate.services import events
from idgate.services.clients.first_party import FIRST_PARTY_CLIENT_ID
from idgate.services.clients.redirect_uris import redirect_uri_registered
from idgate.services.clients.registry import get_client
from idgate.services.clients.view import ClientView
from idgate.jose.jwe import encrypt_nested
from idgate.services.login import TokenResponse, allowed_audiences, lifetimes
from idgate.services.oidc import ACR_PASSWORD, ACR_TWO_FACTOR, OIDC_SCOPES, id_token
from idgate.store import clients as repo
from idgate.store import tokens as token_rows
from idgate.store import users
from idgate.store.db import transaction
from idgate.store.models_oauth import AuthorizationCode
from idgate.store.users import UserView
from idgate.tokens import refresh
from idgate.tokens.access import access_token_claims, choose_audience, issue_access_token, parse_scope


CODE_TTL = 60  # seconds; RFC 6749 §4.1.2 recommends at most 10 minutes
RESPONSE_MODES = ("query", "form_post")
PROMPTS = ("none", "login", "consent")
_PKCE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # base64url(SHA-256) without padding
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")  # RFC 7636 §4.1
MAX_STATE = 2048
MAX_NONCE = 512


@dataclass(frozen=True)
class TokenSet(TokenResponse):
    """A token response that may carry an ID token (OIDC Core §3.1.3.3)."""

    id_token: str | None = None

    def as_dict(self) -> dict[str, Any]:
        body = super().as_dict()
        if self.id_token is not None:
            body["id_token"] = self.id_token
        return body


class PageError(IdgateError):
    """Shown on idgate's own error page, never sent to a redirect URI (RFC 6749 §4.1.2.1)."""

    error = "invalid_request"
    status_code = 400
    description = "The request is invalid."


@dataclass(frozen=True)
class AuthRequest:
    client_id: str
    redirect_uri: str
    scope: tuple[str, ...]
    code_challenge: str
    audience: str
    state: str | None = None
    nonce: str | None = None
    response_mode: str = "query"
    prompt: tuple[str, ...] = ()
    max_age: int | None = None
    login_hint: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> AuthRequest:
        data = json.loads(text)
        data["scope"], data["prompt"] = tuple(data["scope"]), tuple(data["prompt"])
        return cls(**data)


class AuthorizeError(Exception):
    """An RFC 6749 §4.1.2.1 error, to be sent to a registered redirect URI."""

    def __init__(self, error: str, description: str, *, redirect_uri: str, state: str | None,
                 response_mode: str = "query") -> None:
        super().__init__(f"{error}: {description}")
        self.error, self.description = error, description
        self.redirect_uri, self.state, self.response_mode = redirect_uri, state, response_mode


def response_params(issuer: str, state: str | None, **values: str) -> dict[str, str]:
    """Authorization response parameters; ``iss`` always (RFC 9207 §2)."""
    params = dict(values)
    if state is not None:
        params["state"] = state
    params["iss"] = issuer
    return params


def error_params(issuer: str, err: AuthorizeError) -> dict[str, str]:
    return response_params(issuer, err.state, error=err.error, error_description=err.description)


# -- the authorization request ---------------------------------------------------------------


def parse_request(provider: Provider, pairs: list[tuple[str, str]]) -> tuple[AuthRequest, ClientView]:
    """Validate an authorization request; raises PageError or AuthorizeError."""
    params: dict[str, str] = {}
    duplicates: set[str] = set()
    for key, value in pairs:
        if key in params:
            duplicates.add(key)
        params[key] = value
    if {"client_id", "redirect_uri"} & duplicates:
        raise PageError("The request repeats client_id or redirect_uri.")
    client_id = params.get("client_id", "")
    with transaction(provider.sessions) as session:
        client = get_client(session, client_id) if client_id else None
    if client is None:
        raise PageError("The application that sent you here is not registered with this server.",
                        detail=f"unknown client {client_id[:64]!r}")
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri_registered(client, redirect_uri):
        # Exact string comparison with the registered URIs: no prefix, no wildcard, no open redirect;
        # only a loopback IP redirect URI may differ, and only in its port (RFC 8252 §7.3).
        raise PageError("The application's return address (redirect_uri) is missing or not registered, so "
                        "idgate will not send you there.", detail=f"redirect_uri not registered for {client_id}")
    state = params.get("state")
    mode = params.get("response_mode") or "query"

    def fail(error: str, description: str) -> AuthorizeError:
        return AuthorizeError(error, description, redirect_uri=redirect_uri, state=state,
                              response_mode=mode if mode in RESPONSE_MODES else "query")

    if mode not in RESPONSE_MODES:
        raise fail("invalid_request", "response_mode must be query or form_post.")
    if duplicates:
        raise fail("invalid_request", f"Parameter {sorted(duplicates)[0]!r} appears more than once.")
    if "request" in params:
        raise fail("request_not_supported", "Request objects are not supported.")
    if "request_uri" in params:
        raise fail("request_uri_not_supported", "request_uri is not supported.")
    if state is not None and len(state) > MAX_STATE:
        raise fail("invalid_request", "state is too long.")
    response_type = params.get("response_type")
    if not response_type:
        raise fail("invalid_request", "response_type is required.")
    if response_type != "code":
        # OAuth 2.1 / RFC 9700 §2.1.2: no implicit (token) and no hybrid responses.
        raise fail("unsupported_response_type", "Only response_type=code is supported.")
    if "authorization_code" not in client.grant_types:
        raise fail("unauthorized_client", "This client may not use the authorization code flow.")
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if not challenge:
        raise fail("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256.")
    if method != "S256":
        # RFC 7636 §4.3 makes a missing method mean "plain"; plain is refused (RFC 9700 §2.1.1).
        raise fail("invalid_request", "code_challenge_method must be S256; plain is not accepted.")
    if not _PKCE.fullmatch(challenge):
        raise fail("invalid_request", "code_challenge must be the base64url SHA-256 of the code_verifier.")
    try:
        requested = parse_scope(params.get("scope"))
    except InvalidScope:
        raise fail("invalid_scope", "The scope parameter is malformed.") from None
    scope = tuple(requested) if requested is not None else client.scopes
    if not scope or any(s not in client.scopes for s in scope):
        raise fail("invalid_scope", "The application asked for a scope it is not registered for.")
    nonce = params.get("nonce")
    if nonce is not None and not 0 < len(nonce) <= MAX_NONCE:
        raise fail("invalid_request", "nonce is empty or too long.")
    prompt = tuple(dict.fromkeys((params.get("prompt") or "").split()))
    if any(p not in PROMPTS for p in prompt):
        raise fail("invalid_request", "prompt may be none, login or consent.")
    if "none" in prompt and len(prompt) > 1:
        raise fail("invalid_request", "prompt=none cannot be combined with other values.")
    max_age: int | None = None
    if params.get("max_age") not in (None, ""):
        raw = params["max_age"]
        if not raw.isdigit() or len(raw) > 9:
            raise fail("invalid_request", "max_age must be a non-negative number of seconds.")
        max_age = int(raw)
    login_hint = params.get("login_hint") or None
    if login_hint is not None and len(login_hint) > 128:
        raise fail("invalid_request", "login_hint is too long.")
    try:
        audience = client_audience(provider, client, params.get("resource") or params.get("audience"))
    except IdgateError:
        raise fail("invalid_target", "The requested resource is not allowed for this application.") from None
    return AuthRequest(client_id=client.client_id, redirect_uri=redirect_uri, scope=scope, code_challenge=challenge,
                       audience=audience, state=state, nonce=nonce, response_mode=mode, prompt=prompt,
                       max_age=max_age, login_hint=login_hint), client


def client_audience(provider: Provider, client: ClientView, requested: str | None) -> str:
    """RFC 8707: the client's registered audiences (that the server serves), else the server's."""
    settings = provider.settings
    served = allowed_audiences(provider)
    allowed = [a for a in client.audiences if a in served] or list(served)
    default = allowed[0] if client.audiences and allowed else settings.token_audience
    return choose_audience(requested, allowed, default)


def grantable_scope(scope: tuple[str, ...], user: UserView) -> list[str]:
    """Identity scopes as asked; permission scopes only if the user holds the permission."""
    return [s for s in scope if s in OIDC_SCOPES or s in user.permissions]


def next_step(req: AuthRequest, client: ClientView, user: UserView | None, auth_time: int | None, now: int, *,
              login_done: bool, consent_done: bool, consented: set[str]) -> str | None:
    """What the user still has to do: 'login', 'consent', or None (issue the code)."""
    if user is None or auth_time is None:
        return "login"
    if not login_done:
        if "login" in req.prompt:
            return "login"
        if req.max_age is not None and (req.max_age == 0 or now - auth_time > req.max_age):
            return "login"
    if consent_done:
        return None
    if "consent" in req.prompt:
        return "consent"
    if not client.skip_consent and not set(grantable_scope(req.scope, user)) <= consented:
        return "consent"
    return None


def load_user(provider: Provider, user_id: str | None) -> UserView | None:
    if user_id is None:
        return None
    with transaction(provider.sessions) as session:
        user = users.get(session, user_id)
        return None if user is None or user.disabled else users.view(user)


def consented(provider: Provider, user_id: str, client_id: str) -> set[str]:
    with transaction(provider.sessions) as session:
        return repo.consented_scope(session, user_id, client_id)


def record_consent(provider: Provider, user: UserView, req: AuthRequest) -> None:
    with transaction(provider.sessions) as session:
        repo.record_consent(session, user.id, req.client_id, set(grantable_scope(req.scope, user)), clock.utcnow())


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
            acr=ACR_TWO_FACTOR if "otp" in amr.split() else ACR_PASSWORD, sid=sid,
            created_at=clock.from_timestamp(issued), expires_at=clock.from_timestamp(issued + CODE_TTL),
        ))
        if issued % 16 == 0:  # now and then, sweep codes long expired
            repo.purge_codes(session, clock.from_timestamp(issued - 86_400))
    return code


# -- the token endpoint ----------------------------------------------------------------------


def _access_ttl(provider: Provider, client: ClientView) -> int:
    ttl = client.access_token_ttl or provider.settings.access_token_ttl
    return min(ttl, ACCESS_TTL_CEILING)


def _refresh_lifetimes(provider: Provider, client: ClientView) -> refresh.Lifetimes:
    base = lifetimes(provider.settings)
    if client.refresh_token_ttl is None:
        return base
    absolute = min(base.absolute, timedelta(seconds=client.refresh_token_ttl))
    return refresh.Lifetimes(idle=min(base.idle, absolute), absolute=absolute)


def third_party_access_token(provider: Provider, user: UserView, client: ClientView, scope: list[str],
                             audience: str, now: int, *, auth_time: int, amr: list[str]) -> tuple[str, dict[str, Any]]:
    """An RFC 9068 access token for a registered client: permissions limited to the granted
    scope, no roles, and profile claims only when their scope was granted."""
    claims = access_token_claims(user=user, issuer=provider.settings.issuer, audience=audience,
                                 client_id=client.client_id, scope=scope, ttl=_access_ttl(provider, client), now=now,
                                 auth_time=auth_time, amr=amr)
    claims.pop("roles", None)
    claims.pop("preferred_username", None)
    claims["permissions"] = [p for p in user.permissions if p in scope]
    return _sign_for(provider, claims, audience), claims


def _sign_for(provider: Provider, claims: dict[str, Any], audience: str) -> str:
    """Sign; for an audience with a registered encryption key, also encrypt (as first-party
    tokens are). Personal data (name, email) never goes in: apps get it from the ID token or
    /userinfo."""
    signed = issue_access_token(claims, provider.keyring().active)
    recipient = provider.audiences.encryption_key(audience)
    return encrypt_nested(signed, recipient) if recipient is not None else signed


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


def exchange_code(provider: Provider, client: ClientView, params: dict[str, str], now: int | None = None) -> TokenSet:
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
            if not repo.spend_code(session, row.code_hash, clock.from_timestamp(issued)):
                reused = True  # lost a race with another use: the row is re-read below
        if not reused:
            return _tokens_for_code(provider, session, client, row, issued)
    if reused:
        with transaction(provider.sessions) as session:
            row = repo.find_code(session, ids.token_hash(code))
            if row is not None:
                _revoke_issued(session, row, issued)
        events.record(provider.sessions, "token.code_reuse", "refused", actor=row.user_id if row else None,
                      client_id=client.client_id, action="tokens_revoked")
    raise InvalidGrant(detail="authorization code reuse; tokens issued from it are revoked")


def _tokens_for_code(provider: Provider, session: Any, client: ClientView, row: AuthorizationCode,
                     now: int) -> TokenSet:
    user_row = users.get(session, row.user_id)
    if user_row is None or user_row.disabled:
        raise InvalidGrant(detail="user gone or disabled")
    user = users.view(user_row)
    scope = row.scope.split()
    amr = row.amr.split()
    access, claims = third_party_access_token(provider, user, client, scope, row.audience, now,
                                              auth_time=row.auth_time, amr=amr)
    row.access_jti = str(claims["jti"])
    row.access_expires_at = clock.from_timestamp(int(claims["exp"]))
    refresh_token = None
    if "refresh_token" in client.grant_types:
        grant, refresh_token = refresh.start(session, user_id=user.id, client_id=client.client_id,
                                             scope=row.scope, audience=row.audience,
                                             now=clock.from_timestamp(now),
                                             lifetimes=_refresh_lifetimes(provider, client), amr=row.amr,
                                             auth_time=row.auth_time, acr=row.acr, sid=row.sid)
        row.login_session_id = grant.session_id
        if row.sid:
            repo.link_session(session, grant.session_id, row.sid, client.client_id)
    events.record(None, "token.issued", "success", session=session, actor=user.id, client_id=client.client_id,
                  grant="authorization_code", scope=row.scope, aud=row.audience, jti=row.access_jti,
                  sid=row.login_session_id)
    id_tok = None
    if "openid" in scope:
        id_tok = id_token(provider, user=user, client_id=client.client_id, scope=scope, now=now,
                          auth_time=row.auth_time, nonce=row.nonce, amr=amr, acr=row.acr, sid=row.sid,
                          access_token=access)
    return TokenSet(access_token=access, expires_in=int(claims["exp"]) - now, scope=row.scope,
                    refresh_token=refresh_token, id_token=id_tok)


def client_credentials(provider: Provider, client: ClientView, params: dict[str, str],
                       now: int | None = None) -> TokenSet:
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
    ttl = _access_ttl(provider, client)
    claims = {"iss": provider.settings.issuer, "sub": client.client_id, "aud": audience, "exp": issued + ttl,
              "iat": issued, "nbf": issued, "jti": ids.jti(), "client_id": client.client_id, "scope": " ".join(scope)}
    token = _sign_for(provider, claims, audience)
    # Runs on the event loop (the token endpoint's hot path): the row goes in the next batch.
    events.record_batched(provider.event_writer, "token.issued", "success", actor=client.client_id,
                          client_id=client.client_id, grant="client_credentials", scope=" ".join(scope), aud=audience,
                          jti=claims["jti"])
    return TokenSet(access_token=token, expires_in=ttl, scope=" ".join(scope))


def client_refresh(provider: Provider, client: ClientView, token: str, scope: str | None,
                   now: int | None = None) -> TokenSet:
    """Refresh for a registered client: the token must be this client's (RFC 6749 §6); the scope
    stays within what was granted, what the client is registered for and what the user still holds."""
    issued = clock.now() if now is None else now
    if "refresh_token" not in client.grant_types:
        raise UnauthorizedClient(detail=f"{client.client_id} lacks refresh_token")
    try:
        with transaction(provider.sessions) as session:
            grant, next_token = refresh.rotate(session, token, client.client_id, clock.from_timestamp(issued),
                                               _refresh_lifetimes(provider, client))
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
        with transaction(provider.sessions) as session:
            row = token_rows.find(session, ids.token_hash(token))
            if row is not None:
                token_rows.revoke_family(session, row.family_id, clock.from_timestamp(issued))
                token_rows.end_session(session, row.session_id, clock.from_timestamp(issued))
            owner, family = (row.user_id, row.family_id) if row is not None else (None, None)
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
                                              auth_time=auth_time, amr=amr)
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
                    refresh_token=next_token, id_token=id_tok)


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
