"""Passkey rows (:mod:`idgate.store.models_passkeys`): credentials and ceremony challenges.

Every function takes an open session; the rules (who may do what, events) are
:mod:`idgate.passkeys.service`'s.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from idgate.store.models_passkeys import Passkey, WebauthnChallenge

# Outstanding challenges one browser session may hold (autofill, the button, a second tab):
# beyond this the oldest go, so a script asking for options in a loop fills nothing.
MAX_CHALLENGES_PER_SESSION = 8


def of_user(session: Session, user_id: str) -> list[Passkey]:
    return list(session.scalars(select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.created_at)))


def count_of_user(session: Session, user_id: str) -> int:
    return int(session.scalar(select(func.count()).select_from(Passkey).where(Passkey.user_id == user_id)) or 0)


def by_credential_id(session: Session, credential_id: bytes) -> Passkey | None:
    return session.scalar(select(Passkey).where(Passkey.credential_id == credential_id))


def get(session: Session, user_id: str, passkey_id: str) -> Passkey | None:
    row = session.get(Passkey, passkey_id)
    return row if row is not None and row.user_id == user_id else None


def add_challenge(session: Session, row: WebauthnChallenge, now: datetime) -> None:
    """Store a challenge; drop expired ones, and this session's oldest beyond the cap."""
    session.execute(delete(WebauthnChallenge).where(WebauthnChallenge.expires_at <= now))
    kept = select(WebauthnChallenge.challenge_hash).where(WebauthnChallenge.session_hash == row.session_hash) \
        .order_by(WebauthnChallenge.created_at.desc()).limit(MAX_CHALLENGES_PER_SESSION - 1)
    session.execute(delete(WebauthnChallenge).where(WebauthnChallenge.session_hash == row.session_hash,
                                                    WebauthnChallenge.challenge_hash.not_in(kept.scalar_subquery())))
    session.add(row)


def take_challenge(session: Session, challenge_hash: str) -> WebauthnChallenge | None:
    """The challenge, deleted in the same transaction (single use: a second response naming it
    finds nothing, even on another node)."""
    row = session.get(WebauthnChallenge, challenge_hash)
    if row is None:
        return None
    deleted = session.execute(delete(WebauthnChallenge).where(WebauthnChallenge.challenge_hash == challenge_hash))
    if not deleted.rowcount:  # type: ignore[attr-defined]  # taken by a concurrent request
        return None
    session.expunge(row)
    return row
