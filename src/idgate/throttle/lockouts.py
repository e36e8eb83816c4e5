"""Durable account locks in the database: the authority on "locked", shared by every node and
by the CLI (so ``idgate user unlock`` works whichever throttle store the server uses)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from idgate.clock import utcnow
from idgate.store.db import transaction
from idgate.store.models_security import AccountLockout
from idgate.store.prepared import Prepared


@dataclass(frozen=True)
class LockView:
    username: str
    locked_at: str
    failures: int


# Prepared (store/prepared.py): this runs before every password check.
_LOCKED = Prepared(select(AccountLockout.username).where(AccountLockout.username == bindparam("account")))


def locked(session: Session | Connection, account: str) -> bool:
    return _LOCKED.first(session, {"account": account}) is not None


def lock(sessions: sessionmaker[Session], account: str, failures: int) -> bool:
    """Lock ``account``; True if it was not locked before."""
    try:
        with transaction(sessions) as session:
            if session.get(AccountLockout, account) is not None:
                return False
            session.add(AccountLockout(username=account, locked_at=utcnow(), failures=failures))
        return True
    except IntegrityError:  # another node locked it at the same moment
        return False


def unlock(session: Session, account: str) -> bool:
    result = session.execute(delete(AccountLockout).where(AccountLockout.username == account))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def list_locked(sessions: sessionmaker[Session]) -> list[LockView]:
    with transaction(sessions) as session:
        return [LockView(r.username, r.locked_at.isoformat(), r.failures)
                for r in session.scalars(select(AccountLockout).order_by(AccountLockout.locked_at))]
