"""Repository for third-party apps: clients, codes, browser sessions, interactions, consents.

Small functions taking a Session. Single-use things (codes, assertion ``jti``s) are spent with
one conditional statement, so of two concurrent uses exactly one wins on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idgate.store import backchannel
from idgate.store.models import LoginSession, RefreshToken
from idgate.store.models_oauth import (
    AssertionJti,
    AuthorizationCode,
    BrowserSession,
    Consent,
    Interaction,
    OAuthClient,
    SessionLink,
)

# -- clients ---------------------------------------------------------------------------------


def get_client(session: Session, client_id: str) -> OAuthClient | None:
    if not client_id or len(client_id) > 128:
        return None
    return session.get(OAuthClient, client_id)


def list_clients(session: Session) -> list[OAuthClient]:
    return list(session.scalars(select(OAuthClient).order_by(OAuthClient.client_id)))


def add_client(session: Session, row: OAuthClient) -> bool:
    """False if the client id is taken."""
    if session.get(OAuthClient, row.client_id) is not None:
        return False
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        return False
    return True


def delete_client(session: Session, client_id: str) -> bool:
    row = session.get(OAuthClient, client_id)
    if row is None:
        return False
    session.delete(row)
    session.execute(delete(Consent).where(Consent.client_id == client_id))
    session.execute(delete(AuthorizationCode).where(AuthorizationCode.client_id == client_id))
    return True


# -- authorization codes ---------------------------------------------------------------------


def save_code(session: Session, row: AuthorizationCode) -> None:
    session.add(row)
    session.flush()


def find_code(session: Session, code_hash: str) -> AuthorizationCode | None:
    return session.get(AuthorizationCode, code_hash)


def spend_code(session: Session, code_hash: str, now: datetime) -> bool:
    """Mark an unused code used; False if someone used it first."""
    result = session.execute(update(AuthorizationCode)
                             .where(AuthorizationCode.code_hash == code_hash, AuthorizationCode.used_at.is_(None))
                             .values(used_at=now))
    return result.rowcount == 1  # type: ignore[attr-defined]


def purge_codes(session: Session, before: datetime) -> None:
    """Codes long past expiry; used ones are kept a while so a late replay still revokes."""
    session.execute(delete(AuthorizationCode).where(AuthorizationCode.expires_at < before))


# -- browser sessions ------------------------------------------------------------------------


def add_browser_session(session: Session, row: BrowserSession) -> None:
    session.add(row)
    session.flush()


def find_browser_session(session: Session, id_hash: str) -> BrowserSession | None:
    return session.get(BrowserSession, id_hash)


def delete_browser_session(session: Session, id_hash: str) -> None:
    session.execute(delete(BrowserSession).where(BrowserSession.id_hash == id_hash))


def browser_sessions_of(session: Session, user_id: str, now: datetime) -> list[BrowserSession]:
    return list(session.scalars(select(BrowserSession)
                                .where(BrowserSession.user_id == user_id, BrowserSession.expires_at > now)
                                .order_by(BrowserSession.created_at.desc())))


def delete_browser_session_by_sid(session: Session, user_id: str, sid: str) -> bool:
    """End one of the user's browser sessions (account page); its apps are told."""
    result = session.execute(delete(BrowserSession).where(BrowserSession.user_id == user_id,
                                                          BrowserSession.sid == sid))
    if result.rowcount == 1:  # type: ignore[attr-defined]
        backchannel.queue_for_browser_sessions(session, [sid])
        return True
    return False


def delete_other_browser_sessions(session: Session, user_id: str, keep_hash: str) -> None:
    """After a password change: every other browser is signed out, and its apps are told."""
    ending = select(BrowserSession.sid).where(BrowserSession.user_id == user_id, BrowserSession.id_hash != keep_hash)
    backchannel.queue_for_browser_sessions(session, session.scalars(ending).all())
    session.execute(delete(BrowserSession).where(BrowserSession.user_id == user_id,
                                                 BrowserSession.id_hash != keep_hash))


def purge_browser_sessions(session: Session, now: datetime) -> None:
    session.execute(delete(BrowserSession).where(BrowserSession.expires_at < now))
    session.execute(delete(Interaction).where(Interaction.expires_at < now))
    session.execute(delete(AssertionJti).where(AssertionJti.expires_at < now))


# -- interactions ----------------------------------------------------------------------------


def add_interaction(session: Session, row: Interaction) -> None:
    session.add(row)
    session.flush()


def find_interaction(session: Session, id_hash: str) -> Interaction | None:
    return session.get(Interaction, id_hash)


def delete_interaction(session: Session, id_hash: str) -> None:
    session.execute(delete(Interaction).where(Interaction.id_hash == id_hash))


def move_interactions(session: Session, old_session_hash: str, new_session_hash: str) -> None:
    session.execute(update(Interaction).where(Interaction.session_hash == old_session_hash)
                    .values(session_hash=new_session_hash))


# -- consents --------------------------------------------------------------------------------


def consented_scope(session: Session, user_id: str, client_id: str) -> set[str]:
    row = session.get(Consent, (user_id, client_id))
    return set(row.scope.split()) if row is not None else set()


def record_consent(session: Session, user_id: str, client_id: str, scope: set[str], now: datetime) -> None:
    row = session.get(Consent, (user_id, client_id))
    if row is None:
        session.add(Consent(user_id=user_id, client_id=client_id, scope=" ".join(sorted(scope)), granted_at=now))
    else:
        row.scope = " ".join(sorted(scope | set(row.scope.split())))
        row.granted_at = now
    session.flush()


# -- private_key_jwt replay cache ------------------------------------------------------------


def remember_jti(session: Session, key: str, expires_at: datetime) -> bool:
    """False if this assertion id was seen before (a replay)."""
    if session.get(AssertionJti, key) is not None:
        return False
    session.add(AssertionJti(key=key, expires_at=expires_at))
    try:
        session.flush()
    except IntegrityError:
        return False
    return True


# -- refresh-token sessions created from a browser session -----------------------------------


def link_session(session: Session, login_session_id: str, browser_sid: str, client_id: str) -> None:
    session.add(SessionLink(login_session_id=login_session_id, browser_sid=browser_sid, client_id=client_id))
    session.flush()


def linked_sessions(session: Session, browser_sid: str) -> list[str]:
    return list(session.scalars(select(SessionLink.login_session_id).where(SessionLink.browser_sid == browser_sid)))


def active_login_sessions(session: Session, user_id: str, now: datetime) -> list[LoginSession]:
    """Sessions not ended that still hold a live refresh token."""
    live = (select(RefreshToken.session_id)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None),
                   RefreshToken.used_at.is_(None), RefreshToken.expires_at > now))
    return list(session.scalars(select(LoginSession)
                                .where(LoginSession.user_id == user_id, LoginSession.ended_at.is_(None),
                                       LoginSession.id.in_(live))
                                .order_by(LoginSession.created_at.desc())))
