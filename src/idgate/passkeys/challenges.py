"""Ceremony challenges (WebAuthn §13.4.3): 32 random bytes, stored as their SHA-256 with the
purpose, the browser session, the sign-in interaction and the user they were issued for, and
valid for :data:`CHALLENGE_TTL`. A response's challenge is looked up and deleted in one
transaction before anything else is checked, so each is used at most once, on any node."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from idgate import clock
from idgate.store import passkeys as repo
from idgate.store.db import transaction
from idgate.store.models_passkeys import WebauthnChallenge

from .errors import ChallengeUnavailable

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

CHALLENGE_TTL = timedelta(minutes=5)
REGISTER, PASSWORDLESS, SECOND_FACTOR = "register", "passwordless", "second_factor"


def _hash(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


def issue(sessions: sessionmaker[Session], purpose: str, session_hash: str, *, interaction_hash: str | None = None,
          user_id: str | None = None) -> bytes:
    challenge = secrets.token_bytes(32)
    now = clock.utcnow()
    with transaction(sessions) as session:
        repo.add_challenge(session, WebauthnChallenge(
            challenge_hash=_hash(challenge), purpose=purpose, session_hash=session_hash,
            interaction_hash=interaction_hash, user_id=user_id, created_at=now, expires_at=now + CHALLENGE_TTL), now)
    return challenge


def take(sessions: sessionmaker[Session], challenge: bytes, purpose: str, session_hash: str, *,
         interaction_hash: str | None = None, user_id: str | None = None) -> bytes:
    """The challenge, consumed, if it was issued for exactly this purpose, browser session,
    interaction and user and has not expired; :class:`ChallengeUnavailable` otherwise."""
    if not 16 <= len(challenge) <= 64:
        raise ChallengeUnavailable("challenge of a wrong length")
    with transaction(sessions) as session:
        row = repo.take_challenge(session, _hash(challenge))
    if row is None:
        raise ChallengeUnavailable("challenge unknown or already used")
    if clock.utcnow() >= row.expires_at:
        raise ChallengeUnavailable("challenge expired")
    if (row.purpose, row.session_hash, row.interaction_hash, row.user_id) != (purpose, session_hash,
                                                                               interaction_hash, user_id):
        raise ChallengeUnavailable("challenge issued for another purpose, browser, sign-in or user")
    return challenge
