"""Refresh tokens, login sessions and the access-token deny-list.

The interface mirrors node-oidc-provider's adapter: insert_token, find, consume (atomic), revoke,
revoke_family. ``consume`` is a single conditional UPDATE, so of two concurrent uses of one
token exactly one wins, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from idgate.store.models import LoginSession, RefreshToken, RevokedToken
from idgate.store.prepared import insert_of


# Prepared INSERTs (store/prepared.py): every login and refresh writes these rows.
_INSERT_TOKEN = insert_of(RefreshToken.__table__)
_INSERT_SESSION = insert_of(LoginSession.__table__)


def insert_token(session: Session, **values: object) -> None:
    """A new refresh-token row as one plain INSERT (the login and refresh hot paths)."""
    _INSERT_TOKEN.execute(session, values)


def find(session: Session, token_hash: str) -> RefreshToken | None:
    return session.get(RefreshToken, token_hash)


def consume(session: Session, token_hash: str, now: datetime) -> bool:
    """Mark a live token used; False if it was already used or revoked (by anyone, ever)."""
    result = session.execute(
        update(RefreshToken)
        .where(RefreshToken.token_hash == token_hash, RefreshToken.used_at.is_(None),
               RefreshToken.revoked_at.is_(None))
        .values(used_at=now)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def revoke_family(session: Session, family_id: str, now: datetime) -> None:
    session.execute(update(RefreshToken).where(RefreshToken.family_id == family_id,
                                               RefreshToken.revoked_at.is_(None)).values(revoked_at=now))


def end_session(session: Session, session_id: str, now: datetime) -> None:
    session.execute(update(LoginSession).where(LoginSession.id == session_id, LoginSession.ended_at.is_(None))
                    .values(ended_at=now))
    session.execute(update(RefreshToken).where(RefreshToken.session_id == session_id,
                                               RefreshToken.revoked_at.is_(None)).values(revoked_at=now))


def start_session(session: Session, session_id: str, user_id: str, client_id: str, now: datetime,
                  amr: str = "pwd", auth_time: int | None = None, acr: str | None = None,
                  sid: str | None = None) -> None:
    _INSERT_SESSION.execute(session, {"id": session_id, "user_id": user_id, "client_id": client_id,
                                     "created_at": now, "ended_at": None, "amr": amr[:64],
                                     "auth_time": auth_time, "acr": acr, "sid": sid})


def get_session(session: Session, session_id: str) -> LoginSession | None:
    return session.get(LoginSession, session_id)


def deny_jti(session: Session, jti: str, expires_at: datetime) -> None:
    if session.get(RevokedToken, jti) is None:
        session.add(RevokedToken(jti=jti, expires_at=expires_at))
        session.flush()


def is_denied(session: Session, jti: str) -> bool:
    return session.scalar(select(RevokedToken.jti).where(RevokedToken.jti == jti)) is not None


def purge_expired(session: Session, now: datetime) -> None:
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
