"""First-party password login: credentials in, access token out.

The order matters for safety: cheap input checks first, then exactly one password-hash
verification whether or not the user exists (a dummy hash for unknown users), and only then any
answer that depends on the account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio.to_thread

from idgate import clock
from idgate.config import Settings
from idgate.errors import InvalidCredentials
from idgate.provider import FIRST_PARTY_CLIENT_ID, Provider
from idgate.store import users
from idgate.store.db import transaction
from idgate.store.users import UserView
from idgate.tokens import refresh
from idgate.tokens.access import (
    access_token_claims,
    choose_audience,
    grant_scope,
    issue_access_token,
    parse_scope,
)


@dataclass(frozen=True)
class TokenResponse:
    """RFC 6749 §5.1 successful token response."""

    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None
    token_type: str = "Bearer"

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"access_token": self.access_token, "token_type": self.token_type,
                                "expires_in": self.expires_in, "scope": self.scope}
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        return body


@dataclass(frozen=True)
class _Candidate:
    user_id: str | None
    password_hash: str | None
    disabled: bool


def _find_candidate(provider: Provider, username: str) -> _Candidate:
    with transaction(provider.sessions) as session:
        user = users.find_by_username(session, username)
        if user is None:
            return _Candidate(None, None, False)
        return _Candidate(user.id, user.password_hash, user.disabled)


def _store_rehash(provider: Provider, user_id: str, new_hash: str) -> None:
    with transaction(provider.sessions) as session:
        user = users.get(session, user_id)
        if user is not None:
            users.set_password_hash(session, user, new_hash, changed=False)


def _load_view(provider: Provider, user_id: str) -> UserView | None:
    with transaction(provider.sessions) as session:
        user = users.get(session, user_id)
        return None if user is None or user.disabled else users.view(user)


async def authenticate(provider: Provider, username: str, password: str) -> UserView:
    """Check a password; unknown user, disabled user and wrong password all raise the same
    ``InvalidCredentials`` after the same amount of hashing work."""
    candidate = await anyio.to_thread.run_sync(_find_candidate, provider, username)
    result = await provider.hash_pool.verify(candidate.password_hash, password)
    if not result.ok or candidate.user_id is None or candidate.disabled:
        raise InvalidCredentials(detail="unknown user" if candidate.user_id is None else "bad password or disabled")
    if result.new_hash:
        await anyio.to_thread.run_sync(_store_rehash, provider, candidate.user_id, result.new_hash)
    view = await anyio.to_thread.run_sync(_load_view, provider, candidate.user_id)
    if view is None:
        raise InvalidCredentials(detail="user vanished or was disabled during login")
    return view


def lifetimes(settings: Settings) -> refresh.Lifetimes:
    return refresh.Lifetimes(idle=timedelta(seconds=settings.refresh_idle_ttl),
                             absolute=timedelta(seconds=settings.refresh_absolute_ttl))


def mint_access_token(provider: Provider, user: UserView, *, client_id: str, scope: list[str], audience: str,
                      now: int, auth_time: int | None = None) -> str:
    settings = provider.settings
    claims = access_token_claims(user=user, issuer=settings.issuer, audience=audience, client_id=client_id,
                                 scope=scope, ttl=settings.access_token_ttl, now=now,
                                 profile_claims=settings.profile_claims, auth_time=auth_time)
    return issue_access_token(claims, provider.keyring().active)


def _start_grant(provider: Provider, user_id: str, scope: str, audience: str, now: int) -> str:
    with transaction(provider.sessions) as session:
        _grant, token = refresh.start(session, user_id=user_id, client_id=FIRST_PARTY_CLIENT_ID, scope=scope,
                                      audience=audience, now=clock.from_timestamp(now),
                                      lifetimes=lifetimes(provider.settings))
        return token


async def password_login(provider: Provider, username: str, password: str, *, scope: str | None = None,
                         audience: str | None = None, now: int | None = None) -> TokenResponse:
    settings = provider.settings
    requested_scope = parse_scope(scope)
    chosen_audience = choose_audience(audience, settings.allowed_audiences, settings.token_audience)
    user = await authenticate(provider, username, password)
    granted = grant_scope(requested_scope, user.permissions)
    issued_at = clock.now() if now is None else now
    token = mint_access_token(provider, user, client_id=FIRST_PARTY_CLIENT_ID, scope=granted,
                              audience=chosen_audience, now=issued_at)
    refresh_token = await anyio.to_thread.run_sync(_start_grant, provider, user.id, " ".join(granted),
                                                   chosen_audience, issued_at)
    return TokenResponse(access_token=token, expires_in=settings.access_token_ttl, scope=" ".join(granted),
                         refresh_token=refresh_token)
