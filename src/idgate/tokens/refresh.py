"""Rotating refresh tokens (RFC 6749 §6, RFC 9700 §4.14.2).

Every use returns a new refresh token and spends the old one. Presenting a spent token means
two parties hold it (a thief and the client), so the whole family and its session are revoked.
Tokens are opaque 256-bit random strings; only their SHA-256 is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from idgate import ids
from idgate.errors import InvalidGrant
from idgate.store import tokens as repo
from idgate.store.models import RefreshToken


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta
    absolute: timedelta


@dataclass(frozen=True)
class Grant:
    """What a refresh token stands for: who, which client, which session, what scope."""

    user_id: str
    client_id: str
    session_id: str
    family_id: str
    scope: str
    audience: str
    absolute_expires_at: datetime
    # RFC 9449 §5: the key a public client's tokens are bound to (every member of the family).
    dpop_jkt: str | None = None


def issue(session: Session, grant: Grant, now: datetime, lifetimes: Lifetimes, parent_hash: str | None = None) -> str:
    token = ids.refresh_token()
    repo.insert_token(
        session, token_hash=ids.token_hash(token), family_id=grant.family_id, session_id=grant.session_id,
        user_id=grant.user_id, client_id=grant.client_id, scope=grant.scope, audience=grant.audience,
        parent_hash=parent_hash, created_at=now, expires_at=min(now + lifetimes.idle, grant.absolute_expires_at),
        absolute_expires_at=grant.absolute_expires_at, used_at=None, revoked_at=None, dpop_jkt=grant.dpop_jkt,
    )
    return token


def start(session: Session, *, user_id: str, client_id: str, scope: str, audience: str, now: datetime,
          lifetimes: Lifetimes, amr: str = "pwd", auth_time: int | None = None, acr: str | None = None,
          sid: str | None = None, dpop_jkt: str | None = None) -> tuple[Grant, str]:
    """A new login: a session (remembering how the user authenticated, RFC 8176 ``amr``, for the
    tokens refreshed from it) and the first member of a new token family."""
    grant = Grant(user_id=user_id, client_id=client_id, session_id=ids.session_id(), family_id=ids.family_id(),
                  scope=scope, audience=audience, absolute_expires_at=now + lifetimes.absolute, dpop_jkt=dpop_jkt)
    repo.start_session(session, grant.session_id, user_id, client_id, now, amr, auth_time, acr, sid)
    return grant, issue(session, grant, now, lifetimes)


class ReuseDetected(InvalidGrant):
    """A spent refresh token came back: the family is revoked (commit before raising)."""


def _grant_of(row: RefreshToken) -> Grant:
    return Grant(user_id=row.user_id, client_id=row.client_id, session_id=row.session_id, family_id=row.family_id,
                 scope=row.scope, audience=row.audience, absolute_expires_at=row.absolute_expires_at,
                 dpop_jkt=row.dpop_jkt)


def rotate(session: Session, token: str, client_id: str | None, now: datetime,
           lifetimes: Lifetimes, dpop_jkt: str | None = None) -> tuple[Grant, str]:
    """Spend ``token`` and return its grant with the next token of the family.

    Raises ``InvalidGrant`` for unknown, expired, revoked or foreign tokens, or a key-bound one
    presented without a proof of its key (``dpop_jkt``, RFC 9449 §5), and ``ReuseDetected``
    (after revoking the family in ``session``) for a spent one.
    """
    token_hash = ids.token_hash(token)
    row = repo.find(session, token_hash)
    if row is None:
        raise InvalidGrant(detail="unknown refresh token")
    if client_id is not None and client_id != row.client_id:
        # RFC 6749 §6: the refresh token must have been issued to the authenticated client.
        raise InvalidGrant(detail="refresh token of another client")
    if row.revoked_at is not None:
        raise InvalidGrant(detail="revoked refresh token")
    if row.used_at is None and row.dpop_jkt is not None and row.dpop_jkt != dpop_jkt:
        # Checked before the token is spent: a thief without the key must not burn the client's
        # token. A spent one falls through to reuse detection whoever presents it.
        raise InvalidGrant(detail="refresh token bound to another DPoP key" if dpop_jkt
                           else "refresh token bound to a DPoP key; send a DPoP proof")
    if row.used_at is not None or not repo.consume(session, token_hash, now):
        repo.revoke_family(session, row.family_id, now)
        repo.end_session(session, row.session_id, now)
        raise ReuseDetected(detail=f"refresh token reuse; family {row.family_id} revoked")
    if now >= row.expires_at or now >= row.absolute_expires_at:
        raise InvalidGrant(detail="expired refresh token")
    grant = _grant_of(row)
    return grant, issue(session, grant, now, lifetimes, parent_hash=token_hash)


def revoke(session: Session, token: str, client_id: str | None, now: datetime) -> bool:
    """RFC 7009 §2.1: revoking a refresh token revokes its whole grant (family)."""
    row = repo.find(session, ids.token_hash(token))
    if row is None or (client_id is not None and client_id != row.client_id):
        return False
    repo.revoke_family(session, row.family_id, now)
    return True


def session_of(session: Session, token: str) -> str | None:
    row = repo.find(session, ids.token_hash(token))
    return row.session_id if row is not None else None
