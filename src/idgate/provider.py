"""The running identity provider's state: settings, database, keys, the password-hash pool.

The HTTP server holds one ``Provider``; the CLI builds one for a command. Nothing here speaks HTTP.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from idgate.config.schema import Settings

from idgate.config.loading import read_kek
from idgate.jose import KeyRing
from idgate.passwords import HashPool
from idgate.services.audiences import AudienceCache
from idgate.services.clients.cache import ClientCache
from idgate.services.keys import KeyRingCache
from idgate.store.db import is_current, make_engine, session_factory

if TYPE_CHECKING:
    from idgate.events.rows import BatchWriter


class Provider:
    def __init__(self, settings: Settings, *, kek: bytes | None = None) -> None:
        self.settings = settings
        self.engine: Engine = make_engine(settings.effective_database_url)
        self.sessions: sessionmaker[Session] = session_factory(self.engine)
        self._kek = kek

    @cached_property
    def kek(self) -> bytes:
        return self._kek if self._kek is not None else read_kek(self.settings)

    @cached_property
    def keys(self) -> KeyRingCache:
        return KeyRingCache(self.sessions, self.kek)

    def keyring(self) -> KeyRing:
        return self.keys.get()

    @cached_property
    def audiences(self) -> AudienceCache:
        return AudienceCache(self.sessions)

    @cached_property
    def clients(self) -> ClientCache:
        return ClientCache(self.sessions)

    @cached_property
    def event_writer(self) -> BatchWriter:
        from idgate.events.rows import BatchWriter

        return BatchWriter(self.sessions)

    @cached_property
    def hash_pool(self) -> HashPool:
        # One more than the cores: a login's job holds its worker through the short read and write
        # around the hash (HashPool.run_job), and the spare worker keeps every core hashing while
        # one job waits on the database. Login storm, 2 cores: SQLite 77-79% -> 83-85% of the
        # hashing ceiling, PostgreSQL 63-65% -> 75-77%. Peak hashing memory: workers x 19 MiB.
        workers = self.settings.hash_workers or (os.cpu_count() or 1) + 1
        return HashPool(workers=workers, max_waiting=self.settings.hash_queue)

    def schema_is_current(self) -> bool:
        return is_current(self.engine)

    def close(self) -> None:
        if "hash_pool" in self.__dict__:
            self.hash_pool.close()
        if "event_writer" in self.__dict__:
            self.event_writer.close()  # queued event rows reach the table before the pool closes
        from idgate.services import refresh_ahead

        refresh_ahead.wait()  # a cache refresh already queued must not open a connection after this
        self.engine.dispose()
