"""The token endpoint's view of the client registry: :class:`ClientCache`, so that client
authentication (RFC 6749 §2.3) needs no database query per request."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from idgate.services import refresh_ahead
from idgate.services.clients.credentials import SECRET_METHODS, secret_matches
from idgate.services.clients.view import ClientView, view
from idgate.store import clients as repo
from idgate.store.db import transaction


@dataclass(frozen=True)
class CachedClient:
    view: ClientView | None  # None: no such client (remembered too, so a miss is not a query each time)
    secret_hash: str | None
    loaded_at: float


class ClientCache:
    """Registered clients as the token endpoint sees them, each re-read at most ``ttl`` seconds
    after it was last read, so client authentication needs no query per request.

    Bounds: a change made through this server's admin API is seen at once (it calls
    :meth:`invalidate`); one made by the CLI or another node within ``ttl`` (1 s, the same bound
    as signing keys and audiences). A presented secret that does not match the cached hash is
    never refused from the cache: the caller re-reads the row (:meth:`load`), so a secret rotated
    elsewhere starts working at once, while the old one keeps working for at most ``ttl``.
    """

    def __init__(self, sessions: sessionmaker[Session], ttl: float = 1.0, max_entries: int = 10_000) -> None:
        self._sessions, self._ttl, self._max = sessions, ttl, max_entries
        self._entries: dict[str, CachedClient] = {}
        self._lock = threading.Lock()

    def fresh(self, client_id: str) -> CachedClient | None:
        """The cached entry if it is younger than ``ttl``; never touches the database. Past half
        its life the entry is re-read in the background (``refresh_ahead``)."""
        entry = self._entries.get(client_id)
        if entry is None:
            return None
        age = time.monotonic() - entry.loaded_at
        return entry if refresh_ahead.ahead((self, client_id), age, self._ttl, self.load, client_id) else None

    def load(self, client_id: str) -> CachedClient:
        """Read the client from the database (blocking: call it off the event loop)."""
        loaded_at = time.monotonic()
        with transaction(self._sessions) as session:
            row = repo.get_client(session, client_id)
            entry = CachedClient(view(row) if row is not None else None,
                                 row.secret_hash if row is not None else None, loaded_at)
        if client_id and len(client_id) <= 128:
            with self._lock:
                if len(self._entries) >= self._max:  # a flood of made-up ids cannot grow memory
                    self._entries.clear()
                self._entries[client_id] = entry
        return entry

    def invalidate(self, client_id: str | None = None) -> None:
        with self._lock:
            if client_id is None:
                self._entries.clear()
            else:
                self._entries.pop(client_id, None)

    @staticmethod
    def check_secret(entry: CachedClient, presented: str) -> ClientView | None:
        """The client if ``presented`` is its secret (constant-time hash comparison)."""
        stored = entry.secret_hash if entry.view is not None and entry.view.auth_method in SECRET_METHODS else None
        return entry.view if secret_matches(stored, presented) else None
