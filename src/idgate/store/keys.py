"""Signing-key rows. Private keys arrive and leave sealed; this module never sees them in clear."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from idgate.store.models import SigningKeyRow

ACTIVE, PUBLISHED, RETIRED, REVOKED = "active", "published", "retired", "revoked"


def add(session: Session, kid: str, alg: str, public_jwk: str, private_key_enc: str, state: str) -> SigningKeyRow:
    row = SigningKeyRow(kid=kid, alg=alg, public_jwk=public_jwk, private_key_enc=private_key_enc, state=state)
    session.add(row)
    session.flush()
    return row


def by_state(session: Session, *states: str) -> list[SigningKeyRow]:
    stmt = select(SigningKeyRow).where(SigningKeyRow.state.in_(states)).order_by(SigningKeyRow.created_at.desc())
    return list(session.scalars(stmt))


def all_keys(session: Session) -> list[SigningKeyRow]:
    return list(session.scalars(select(SigningKeyRow).order_by(SigningKeyRow.created_at.desc())))


def get(session: Session, kid: str) -> SigningKeyRow | None:
    return session.get(SigningKeyRow, kid)


def retire_due(session: Session, now: datetime) -> list[str]:
    """Published keys whose every token has expired leave the JWKS."""
    retired = []
    for row in by_state(session, PUBLISHED):
        if row.retire_after is not None and row.retire_after <= now:
            row.state = RETIRED
            retired.append(row.kid)
    return retired
