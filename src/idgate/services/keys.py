"""Signing-key lifecycle: create, load into a key ring, rotate, revoke, retire."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from idgate.clock import utcnow
from idgate.config.schema import Settings
from idgate.errors import ConfigError, NotFound
from idgate.jose import KeyRing, decrypt_private_key, encrypt_private_key, generate_signing_key
from idgate.jose.algorithms import SYMMETRIC_ALGS
from idgate.services import refresh_ahead
from idgate.store import keys as key_rows
from idgate.store.db import transaction
from idgate.store.models import SigningKeyRow

# A rotated-out key stays published this long past the token lifetime, for clock skew.
RETIRE_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class KeyInfo:
    kid: str
    alg: str
    state: str
    created_at: str
    retire_after: str | None


def create_key(session: Session, settings: Settings, kek: bytes, state: str = key_rows.ACTIVE) -> str:
    key = generate_signing_key(settings.signing_alg)
    key_rows.add(session, key.kid, key.alg, json.dumps(key.public_jwk), encrypt_private_key(key, kek), state)
    return key.kid


def ensure_key(sessions: sessionmaker[Session], settings: Settings, kek: bytes) -> str | None:
    """Create the first signing key if there is none; returns its kid, or None if one existed."""
    with transaction(sessions) as session:
        if key_rows.by_state(session, key_rows.ACTIVE):
            return None
        return create_key(session, settings, kek)


def rotate(sessions: sessionmaker[Session], settings: Settings, kek: bytes, *, actor: str | None = None) -> str:
    """The new key signs from now on; the old one verifies until its last token has expired."""
    from idgate import events

    with transaction(sessions) as session:
        retire_after = utcnow() + timedelta(seconds=settings.access_token_ttl) + RETIRE_MARGIN
        old = []
        for row in key_rows.by_state(session, key_rows.ACTIVE):
            row.state = key_rows.PUBLISHED
            row.retire_after = retire_after
            old.append(row.kid)
        session.flush()
        kid = create_key(session, settings, kek)
        events.record(None, "key.rotated", "success", session=session, actor=actor, kid=kid, previous=old)
        return kid


def revoke(sessions: sessionmaker[Session], settings: Settings, kek: bytes, kid: str, *,
           actor: str | None = None) -> str | None:
    """A compromised key leaves the JWKS at once. Revoking the active key makes a new one."""
    from idgate import events

    with transaction(sessions) as session:
        row = key_rows.get(session, kid)
        if row is None or row.state in (key_rows.REVOKED, key_rows.RETIRED):
            raise NotFound(f"No active or published key with kid {kid!r}.")
        was_active = row.state == key_rows.ACTIVE
        row.state = key_rows.REVOKED
        session.flush()
        new_kid = create_key(session, settings, kek) if was_active else None
        events.record(None, "key.revoked", "success", session=session, actor=actor, kid=kid, replacement=new_kid)
        return new_kid


def list_keys(sessions: sessionmaker[Session]) -> list[KeyInfo]:
    with transaction(sessions) as session:
        key_rows.retire_due(session, utcnow())
        return [KeyInfo(r.kid, r.alg, r.state, r.created_at.isoformat(),
                        r.retire_after.isoformat() if r.retire_after else None)
                for r in key_rows.all_keys(session)]


def load_keyring(sessions: sessionmaker[Session], kek: bytes) -> KeyRing:
    with transaction(sessions) as session:
        key_rows.retire_due(session, utcnow())
        active = key_rows.by_state(session, key_rows.ACTIVE)
        if not active:
            raise ConfigError("No active signing key; run 'idgate init' or 'idgate keys rotate'.")
        row = active[0]
        signing = decrypt_private_key(row.private_key_enc, kek, row.kid, row.alg)
        published = key_rows.by_state(session, key_rows.ACTIVE, key_rows.PUBLISHED)
        jwks = tuple(json.loads(r.public_jwk) for r in published if r.alg not in SYMMETRIC_ALGS)
        return KeyRing(active=signing, published=jwks)


def _fingerprint(session: Session) -> tuple[tuple[str, str], ...]:
    rows = session.execute(select(SigningKeyRow.kid, SigningKeyRow.state).order_by(SigningKeyRow.kid))
    return tuple((kid, state) for kid, state in rows)


class KeyRingCache:
    """The server's view of the key ring, re-read when the key table changes.

    A cheap query of (kid, state) runs at most once per ``check_interval`` seconds, so a
    rotation or revocation made by the CLI or another node is seen within that bound
    without decrypting keys on every request.
    """

    def __init__(self, sessions: sessionmaker[Session], kek: bytes, check_interval: float = 1.0) -> None:
        self._sessions, self._kek, self._interval = sessions, kek, check_interval
        self._lock = threading.Lock()
        self._ring: KeyRing | None = None
        self._fp: tuple[tuple[str, str], ...] = ()
        self._checked = 0.0

    def fresh(self, margin: float = 0.1) -> bool:
        """True when :meth:`get` will answer from memory for at least ``margin`` seconds more
        (callers on the event loop use this to avoid a database read there). Past half its
        life the ring is re-checked in the background (``refresh_ahead``)."""
        if self._ring is None:
            return False
        age = time.monotonic() - self._checked
        return refresh_ahead.ahead(self, age, self._interval, self._check) and age < self._interval - margin

    def get(self) -> KeyRing:
        if self._ring is not None and time.monotonic() - self._checked < self._interval:
            return self._ring
        return self._check(force=False)

    def _check(self, force: bool = True) -> KeyRing:
        with self._lock:
            if not force and self._ring is not None and time.monotonic() - self._checked < self._interval:
                return self._ring
            with transaction(self._sessions) as session:
                # Retirement is due by time alone, so check it here too (a few rows at most).
                key_rows.retire_due(session, utcnow())
                fp = _fingerprint(session)
            if self._ring is None or fp != self._fp:
                self._ring = load_keyring(self._sessions, self._kek)
                with transaction(self._sessions) as session:
                    fp = _fingerprint(session)
                self._fp = fp
            self._checked = time.monotonic()
            return self._ring
