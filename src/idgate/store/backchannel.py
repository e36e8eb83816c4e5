"""Rows for back-channel logout: the apps a browser session signed in to, and the outbox of
logout tokens (see :mod:`idgate.store.models_backchannel`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from idgate.store.models import LoginSession
from idgate.store.models_backchannel import LogoutDelivery, SessionClient
from idgate.store.models_oauth import OAuthClient, SessionLink


def record_client(session: Session, browser_sid: str, client_id: str, user_id: str) -> None:
    """The app got an ID token with this ``sid`` (only apps with a back-channel logout URI)."""
    if session.get(SessionClient, (browser_sid, client_id)) is None:
        session.add(SessionClient(browser_sid=browser_sid, client_id=client_id, user_id=user_id))
        session.flush()


def _targets(session: Session, client_ids: Iterable[str]) -> dict[str, OAuthClient]:
    wanted = set(client_ids)
    if not wanted:
        return {}
    rows = session.scalars(select(OAuthClient).where(OAuthClient.client_id.in_(wanted),
                                                     OAuthClient.backchannel_logout_uri.is_not(None)))
    return {r.client_id: r for r in rows}


def _queue(session: Session, client: OAuthClient, sub: str, sid: str | None) -> None:
    if sid is None and client.backchannel_logout_session_required:
        return  # §2.2: this app needs sid, and there is none to send (a session without a browser)
    session.add(LogoutDelivery(client_id=client.client_id, uri=client.backchannel_logout_uri, sub=sub, sid=sid))


def queue_for_browser_sessions(session: Session, sids: Iterable[str]) -> int:
    """Those idgate sessions end: every app they signed in to gets a logout token (sub + sid)."""
    wanted = list(dict.fromkeys(sids))
    if not wanted:
        return 0
    links = list(session.scalars(select(SessionClient).where(SessionClient.browser_sid.in_(wanted))))
    targets = _targets(session, (link.client_id for link in links))
    for link in links:
        if link.client_id in targets:
            _queue(session, targets[link.client_id], link.user_id, link.browser_sid)
    session.execute(delete(SessionClient).where(SessionClient.browser_sid.in_(wanted)))
    return len(links)


def queue_for_login_session(session: Session, login_session_id: str) -> None:
    """One app session (refresh tokens) ends: that app alone is told, with the browser sid it
    came from; a session that came from no browser (device flow) is named by ``sub`` only."""
    link = session.get(SessionLink, login_session_id)
    if link is not None:
        row = session.get(SessionClient, (link.browser_sid, link.client_id))
        if row is not None:
            target = _targets(session, [row.client_id]).get(row.client_id)
            if target is not None:
                _queue(session, target, row.user_id, row.browser_sid)
            session.delete(row)
        return
    login = session.get(LoginSession, login_session_id)
    if login is not None:
        target = _targets(session, [login.client_id]).get(login.client_id)
        if target is not None:
            _queue(session, target, login.user_id, None)


def queue_for_user(session: Session, user_id: str) -> None:
    """The user is disabled: every app with a session of theirs is told."""
    sids = session.scalars(select(SessionClient.browser_sid).where(SessionClient.user_id == user_id)).all()
    queue_for_browser_sessions(session, sids)
    browserless = session.scalars(select(LoginSession.client_id).where(
        LoginSession.user_id == user_id, LoginSession.ended_at.is_(None),
        LoginSession.id.not_in(select(SessionLink.login_session_id)))).all()
    for client in _targets(session, browserless).values():
        _queue(session, client, user_id, None)


def claim_due(session: Session, now: datetime, lease: timedelta, limit: int = 20) -> list[LogoutDelivery]:
    """Rows due now, each leased to this caller (another node or worker skips it meanwhile)."""
    due = list(session.scalars(select(LogoutDelivery).where(
        LogoutDelivery.status == "pending", LogoutDelivery.next_attempt_at <= now)
        .order_by(LogoutDelivery.next_attempt_at).limit(limit)))
    claimed = []
    for row in due:
        won = session.execute(update(LogoutDelivery).where(
            LogoutDelivery.id == row.id, LogoutDelivery.next_attempt_at == row.next_attempt_at,
            LogoutDelivery.status == "pending").values(next_attempt_at=now + lease)).rowcount  # type: ignore[attr-defined]
        if won:
            claimed.append(row)
    return claimed


def finish(session: Session, delivery_id: int, *, status: str, attempts: int, next_attempt_at: datetime,
           error: str | None) -> None:
    session.execute(update(LogoutDelivery).where(LogoutDelivery.id == delivery_id).values(
        status=status, attempts=attempts, next_attempt_at=next_attempt_at, last_error=(error or None) and error[:256]))


def pending_count(session: Session) -> int:
    from sqlalchemy import func

    return int(session.scalar(select(func.count()).select_from(LogoutDelivery)
                              .where(LogoutDelivery.status == "pending")) or 0)
