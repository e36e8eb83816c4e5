"""The narrow, read-only view of a deployment's database that ``idgate audit --data`` uses.

The auditor is a separate layer: it must not depend on how the store is organised, so it reads
the two things it checks (stored password hashes, sealed signing keys) through these functions
and nothing else (an import-linter contract in pyproject.toml holds it to that). Each call opens
its own connection and closes it; nothing is written.
"""

from __future__ import annotations

from sqlalchemy import select

from idgate.store.db import make_engine
from idgate.store.models import SigningKeyRow, User


def _column(database_url: str, column: object) -> list[str]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return [str(value) for value in conn.execute(select(column)).scalars()]  # type: ignore[call-overload]
    finally:
        engine.dispose()


def password_hashes(database_url: str) -> list[str]:
    """Every user's stored password hash (PHC strings: argon2id, or imported bcrypt)."""
    return _column(database_url, User.password_hash)


def sealed_signing_keys(database_url: str) -> list[str]:
    """Every signing key's stored private part, as kept in the database (sealed 'v1.' blobs)."""
    return _column(database_url, SigningKeyRow.private_key_enc)
