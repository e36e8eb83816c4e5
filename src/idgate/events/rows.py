"""How security-event rows reach the ``events`` table: one row in the caller's transaction or
in its own, and :class:`BatchWriter` for the event loop's hot paths (rows queued and written
many to a transaction from one background thread).

The event itself - its log line, its cleaned detail, the folding of floods - is built by
:mod:`idgate.events`, which calls these with a row's column values. A failure to
write a row is logged on the ``idgate.events`` logger and never raised to the caller.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from idgate.store.db import transaction
from idgate.store.models import Event
from idgate.store.prepared import InsertMany, insert_of

log = logging.getLogger("idgate.events")

# The single row of a request is a prepared INSERT (store/prepared.py) on the session's
# connection, so it joins its transaction; batches are multi-row INSERTs (see InsertMany).
_INSERT_EVENT_ROW = insert_of(Event.__table__)
_INSERT_EVENT_ROWS = InsertMany(Event.__table__)


def insert_row(session: Session, values: dict[str, Any]) -> None:
    # A plain INSERT: no ORM object to build, track and flush for an append-only row.
    _INSERT_EVENT_ROW.execute(session, values)


def store_row(sessions: sessionmaker[Session], values: dict[str, Any]) -> None:
    try:
        with transaction(sessions) as s:
            insert_row(s, values)
    except SQLAlchemyError as exc:
        log.error(json.dumps({"event": "event_write_failed", "kind": values["kind"], "error": type(exc).__name__}))


class BatchWriter:
    """Writes event rows in batches from one background thread, for the hot paths that run on
    the event loop (a service's client-credentials token) and must not wait for a database.

    The log line of each event is written at once, as always; the row follows within
    ``interval`` seconds (0.25), many rows to one transaction. Bounded: past ``max_queued``
    rows waiting (a database that stopped answering), new rows are dropped and counted in one
    ``event_rows_dropped`` log line per batch, so memory cannot grow without limit. ``close``
    (on shutdown) writes what is queued. The trade-off, stated: a process killed with SIGKILL
    loses at most ``interval`` seconds of these rows from the table (never from the log);
    events about failures, refusals and changes are still written before the reply.
    """

    def __init__(self, sessions: sessionmaker[Session], *, interval: float = 0.25, max_queued: int = 10_000) -> None:
        self._sessions, self._interval, self._max = sessions, interval, max_queued
        self._rows: list[dict[str, Any]] = []
        self._dropped = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="idgate-events", daemon=True)
        self._thread.start()

    def add(self, row: dict[str, Any]) -> None:
        with self._lock:
            if self._closed or len(self._rows) >= self._max:
                self._dropped += 1
                return
            self._rows.append(row)

    def _take(self) -> tuple[list[dict[str, Any]], int]:
        with self._lock:
            rows, self._rows = self._rows, []
            dropped, self._dropped = self._dropped, 0
        return rows, dropped

    def flush(self) -> None:
        rows, dropped = self._take()
        if dropped:
            log.error(json.dumps({"event": "event_rows_dropped", "count": dropped}))
        if not rows:
            return
        try:
            with transaction(self._sessions) as s:
                _INSERT_EVENT_ROWS.execute(s, rows)  # a few multi-row statements, no ORM objects
        except SQLAlchemyError as exc:
            log.error(json.dumps({"event": "event_write_failed", "kind": "batch", "rows": len(rows),
                                  "error": type(exc).__name__}))

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self.flush()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=10)
        self.flush()
