"""Resource servers (audiences) a token may be minted for, and their encryption keys.

An audience with a registered public key gets nested tokens: signed by idgate, then encrypted
to that key (RFC 7516), so claims marked confidential are readable only by that service.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from idgate.errors import Conflict, InvalidRequest, NotFound, OAuthError
from idgate.jose.jwe import EncryptionKey, import_encryption_key, public_jwk_of
from idgate.services import refresh_ahead
from idgate.store.db import transaction
from idgate.store.models_audiences import ResourceServer


class ConfidentialClaimsNeedEncryption(OAuthError):
    """Refuse rather than leak: the token would carry confidential claims in a readable payload."""

    error = "invalid_target"
    description = ("Tokens for this audience would carry confidential claims, but it has no registered "
                   "encryption key. Register one with 'idgate audience add URL --enc-key FILE'.")


@dataclass(frozen=True)
class AudienceInfo:
    audience: str
    encrypted: bool
    key_alg: str | None


def _check_audience(audience: str) -> str:
    parts = urlsplit(audience)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.fragment or len(audience) > 512:
        raise InvalidRequest("An audience is an absolute URL (the resource server's identifier), e.g. https://api.example.")
    return audience


def add(sessions: sessionmaker[Session], audience: str, encryption_key: str | bytes | None = None) -> AudienceInfo:
    _check_audience(audience)
    jwk = json.dumps(public_jwk_of(import_encryption_key(encryption_key, private=False))) if encryption_key else None
    with transaction(sessions) as session:
        if session.get(ResourceServer, audience) is not None:
            raise Conflict(f"Audience {audience!r} is already registered.")
        session.add(ResourceServer(audience=audience, encryption_jwk=jwk))
    return _info(audience, jwk)


def set_key(sessions: sessionmaker[Session], audience: str, encryption_key: str | bytes | None) -> AudienceInfo:
    jwk = json.dumps(public_jwk_of(import_encryption_key(encryption_key, private=False))) if encryption_key else None
    with transaction(sessions) as session:
        row = session.get(ResourceServer, audience)
        if row is None:
            raise NotFound(f"No audience {audience!r}.")
        row.encryption_jwk = jwk
    return _info(audience, jwk)


def remove(sessions: sessionmaker[Session], audience: str) -> None:
    with transaction(sessions) as session:
        row = session.get(ResourceServer, audience)
        if row is None:
            raise NotFound(f"No audience {audience!r}.")
        session.delete(row)


def list_all(sessions: sessionmaker[Session]) -> list[AudienceInfo]:
    with transaction(sessions) as session:
        rows = session.scalars(select(ResourceServer).order_by(ResourceServer.audience)).all()
        return [_info(r.audience, r.encryption_jwk) for r in rows]


def _info(audience: str, jwk: str | None) -> AudienceInfo:
    return AudienceInfo(audience, jwk is not None, json.loads(jwk)["alg"] if jwk else None)


class AudienceCache:
    """Registered audiences and their keys, re-read at most once per ``ttl`` seconds, so a new
    registration is seen by a running server within that bound without a query per login."""

    def __init__(self, sessions: sessionmaker[Session], ttl: float = 1.0) -> None:
        self._sessions, self._ttl = sessions, ttl
        self._lock = threading.Lock()
        self._loaded = -1e9
        self._keys: dict[str, EncryptionKey | None] = {}

    def fresh(self, margin: float = 0.1) -> bool:
        """True when lookups will answer from memory for at least ``margin`` seconds more.
        Past half their life the audiences are re-read in the background (``refresh_ahead``)."""
        age = time.monotonic() - self._loaded
        return refresh_ahead.ahead(self, age, self._ttl, self._reload) and age < self._ttl - margin

    def _refresh(self) -> dict[str, EncryptionKey | None]:
        if time.monotonic() - self._loaded < self._ttl:
            return self._keys
        return self._reload(force=False)

    def _reload(self, force: bool = True) -> dict[str, EncryptionKey | None]:
        with self._lock:
            if force or time.monotonic() - self._loaded >= self._ttl:
                with transaction(self._sessions) as session:
                    rows = session.execute(select(ResourceServer.audience, ResourceServer.encryption_jwk)).all()
                self._keys = {aud: import_encryption_key(jwk, private=False) if jwk else None for aud, jwk in rows}
                self._loaded = time.monotonic()
        return self._keys

    def registered(self) -> tuple[str, ...]:
        return tuple(self._refresh())

    def encryption_key(self, audience: str) -> EncryptionKey | None:
        return self._refresh().get(audience)
