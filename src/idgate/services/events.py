"""Security events: an append-only ``events`` table plus one JSON line per event on the
``idgate.events`` logger.

Every event has a time, a kind (``login.failure``, ``token.refreshed``, ``admin.user.created``...),
an outcome, the actor (a user's ``sub``, ``cli:<os user>`` or nothing for an unknown user),
the client id, the client IP and the request id, and a small ``detail`` object of reason
codes and identifiers. Never a password, token, one-time code or secret: detail keys that
look like one are refused outright (a programming error, caught by the tests), and callers
pass identifiers only. Unknown usernames are not recorded either: people type passwords into
the username field.

The IP and request id come from the request being served (bound by
:class:`idgate.server.middleware.EdgeMiddleware`) unless given explicitly. Floods of
the same event (throttled requests) are written once per ``dedupe`` key and minute, with a
count of what was folded in; the log line is always written.
"""

from __future__ import annotations

import contextvars
import getpass
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from idgate import jsonenc
from idgate.clock import utcnow
from idgate.ops.logs import JsonLine
from idgate.store.db import transaction
from idgate.store.models import Event
from idgate.store.prepared import InsertMany, insert_of

log = logging.getLogger("idgate.events")

# Detail keys that could carry a secret. Identifiers use other names (kid, family, session...).
_FORBIDDEN_KEY = re.compile(r"pass|secret|token|otp|code|credential|cookie|authorization|private", re.I)
_MAX_DETAIL_VALUE = 256
DEDUPE_SECONDS = 60.0


@dataclass(frozen=True)
class RequestInfo:
    ip: str | None = None
    request_id: str | None = None


_request: contextvars.ContextVar[RequestInfo] = contextvars.ContextVar("idgate_request", default=RequestInfo())


def bind_request(ip: str | None, request_id: str | None) -> contextvars.Token[RequestInfo]:
    return _request.set(RequestInfo(ip, request_id))


def unbind_request(token: contextvars.Token[RequestInfo]) -> None:
    _request.reset(token)


def current_request() -> RequestInfo:
    return _request.get()


@contextmanager
def request_scope(ip: str | None, request_id: str | None = None) -> Iterator[None]:
    token = bind_request(ip, request_id)
    try:
        yield
    finally:
        unbind_request(token)


def cli_actor() -> str:
    try:
        return "cli:" + getpass.getuser()
    except Exception:  # no login name (containers): still say it came from the CLI
        return "cli"


# Detail keys already checked against _FORBIDDEN_KEY. They are keyword names written in the code,
# so a few dozen at most; the bound only guards against a caller passing keys from data.
_KEYS_CHECKED: set[str] = set()


def _clean_detail(detail: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in detail.items():
        if key not in _KEYS_CHECKED:
            if _FORBIDDEN_KEY.search(key):
                raise ValueError(f"security event detail key {key!r} looks like a secret; pass an identifier")
            if len(_KEYS_CHECKED) < 1024:
                _KEYS_CHECKED.add(key)
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = [str(v)[:_MAX_DETAIL_VALUE] for v in value][:32]
        elif not isinstance(value, (bool, int, float)):
            value = str(value)[:_MAX_DETAIL_VALUE]
        clean[key] = value
    return clean


class _Deduper:
    def __init__(self, cap: int = 10_000) -> None:
        self._seen: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._cap = cap

    def admit(self, key: str) -> int | None:
        """None: fold this one in; otherwise write it, carrying how many were folded."""
        now = time.monotonic()
        with self._lock:
            last = self._seen.get(key)
            if last is not None and now - last[0] < DEDUPE_SECONDS:
                self._seen[key] = (last[0], last[1] + 1)
                return None
            folded = last[1] if last is not None else 0
            self._seen[key] = (now, 0)
            self._seen.move_to_end(key)
            while len(self._seen) > self._cap:
                self._seen.popitem(last=False)
            return folded


_deduper = _Deduper()


def _emit_values(kind: str, outcome: str, *, actor: str | None = None, client_id: str | None = None,
                 ip: str | None = None, request_id: str | None = None, dedupe: str | None = None,
                 **detail: Any) -> dict[str, Any] | None:
    """Write the log line; return the row's column values, or None when ``dedupe`` folds it."""
    ctx = _request.get()
    clean = _clean_detail(detail)
    folded: int | None = 0
    if dedupe is not None:
        folded = _deduper.admit(f"{kind}|{dedupe}")
        if folded:
            clean["folded"] = folded
    at = utcnow()
    address = ip or ctx.ip or None
    values = {"at": at, "kind": kind[:64], "outcome": outcome[:32], "actor": actor[:128] if actor else None,
              "client_id": client_id[:128] if client_id else None, "ip": address[:64] if address else None,
              "request_id": request_id or ctx.request_id,
              "detail": jsonenc.sorted_compact(clean) if clean else None}
    line = {"event": values["kind"], "outcome": values["outcome"], "at": at.isoformat(), "actor": values["actor"],
            "client_id": values["client_id"], "ip": values["ip"], "request_id": values["request_id"],
            "detail": clean}
    level = logging.WARNING if outcome in ("failure", "refused", "throttled", "locked") else logging.INFO
    # A JsonLine: handlers (the JSON log) read its fields without parsing text back.
    log.log(level, JsonLine(line))
    for callback in _observers:
        callback(values["kind"], values["outcome"], clean)
    return None if folded is None else values


# Called with (kind, outcome, detail) for every event, written to the log or not: the metrics
# count events this way (server/metrics.py), without parsing log records back.
_observers: list[Callable[[str, str, dict[str, Any]], None]] = []


def observe(callback: Callable[[str, str, dict[str, Any]], None]) -> None:
    if callback not in _observers:
        _observers.append(callback)


# The single row of a request is a prepared INSERT (store/prepared.py) on the session's
# connection, so it joins its transaction; batches are multi-row INSERTs (see InsertMany).
_INSERT_EVENT_ROW = insert_of(Event.__table__)
_INSERT_EVENT_ROWS = InsertMany(Event.__table__)


def _insert(session: Session, values: dict[str, Any]) -> None:
    # A plain INSERT: no ORM object to build, track and flush for an append-only row.
    _INSERT_EVENT_ROW.execute(session, values)


def _store(sessions: sessionmaker[Session], values: dict[str, Any]) -> None:
    try:
        with transaction(sessions) as s:
            _insert(s, values)
    except SQLAlchemyError as exc:
        log.error(json.dumps({"event": "event_write_failed", "kind": values["kind"], "error": type(exc).__name__}))


def record(sessions: sessionmaker[Session] | None, kind: str, outcome: str = "success", *,
           session: Session | None = None, **kw: Any) -> None:
    """Write one security event (log line always; table row unless folded by ``dedupe``).

    With ``session`` the row joins that transaction (an admin change and its event commit
    together); otherwise it is written in its own transaction. A failure to write the row is
    logged and never turns the request into an error.
    """
    if kw.get("dedupe") is not None:  # folding is per database (one process may serve several)
        kw["dedupe"] = f"{id(sessions if session is None else session.bind)}|{kw['dedupe']}"
    values = _emit_values(kind, outcome, **kw)
    if values is None:
        return
    if session is not None:
        _insert(session, values)
    elif sessions is not None:
        _store(sessions, values)


async def arecord(sessions: sessionmaker[Session] | None, kind: str, outcome: str = "success",
                  **kw: Any) -> None:
    """:func:`record` for the event loop: the log line (and the folding) here, the row in a
    worker thread - so a folded flood costs no thread hop and no database write."""
    if kw.get("dedupe") is not None:
        kw["dedupe"] = f"{id(sessions)}|{kw['dedupe']}"
    values = _emit_values(kind, outcome, **kw)
    if values is not None and sessions is not None:
        await anyio.to_thread.run_sync(_store, sessions, values)


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


def record_batched(writer: BatchWriter, kind: str, outcome: str = "success", **kw: Any) -> None:
    """:func:`record` for the event loop's hot paths: the log line now, the row in the next
    batch (see :class:`BatchWriter`). No I/O on the calling thread beyond the log handler."""
    values = _emit_values(kind, outcome, **kw)
    if values is not None:
        writer.add(values)


@dataclass(frozen=True)
class EventView:
    id: int
    at: str
    kind: str
    outcome: str
    actor: str | None
    client_id: str | None
    ip: str | None
    request_id: str | None
    detail: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "kind": self.kind, "outcome": self.outcome, "actor": self.actor,
                "client_id": self.client_id, "ip": self.ip, "request_id": self.request_id, "detail": self.detail}


def _view(row: Event) -> EventView:
    try:
        detail = json.loads(row.detail) if row.detail else {}
    except ValueError:
        detail = {"unparsed": row.detail[:200] if row.detail else ""}
    return EventView(row.id, row.at.isoformat(), row.kind, row.outcome, row.actor, row.client_id, row.ip,
                     row.request_id, detail)


def search(sessions: sessionmaker[Session], *, kind: str | None = None, outcome: str | None = None,
           actor: str | None = None, ip: str | None = None, request_id: str | None = None,
           since: datetime | None = None, until: datetime | None = None, after_id: int | None = None,
           before_id: int | None = None, limit: int = 100, newest_first: bool = True) -> list[EventView]:
    """Events matching every given filter. ``kind`` ending in ``*`` is a prefix (``login.*``).
    Page with ``before_id`` (newest first) or ``after_id`` (oldest first, for tailing)."""
    limit = max(1, min(int(limit), 1000))
    query = select(Event)
    if kind:
        query = query.where(Event.kind.startswith(kind[:-1]) if kind.endswith("*") else Event.kind == kind)
    if outcome:
        query = query.where(Event.outcome == outcome)
    if actor:
        query = query.where(Event.actor == actor)
    if ip:
        query = query.where(Event.ip == ip)
    if request_id:
        query = query.where(Event.request_id == request_id)
    if since is not None:
        query = query.where(Event.at >= since)
    if until is not None:
        query = query.where(Event.at < until)
    if after_id is not None:
        query = query.where(Event.id > after_id)
    if before_id is not None:
        query = query.where(Event.id < before_id)
    query = query.order_by(Event.id.desc() if newest_first else Event.id.asc()).limit(limit)
    with transaction(sessions) as session:
        return [_view(r) for r in session.scalars(query)]


def count(sessions: sessionmaker[Session], kind: str | None = None) -> int:
    from sqlalchemy import func

    query = select(func.count(Event.id))
    if kind:
        query = query.where(Event.kind.startswith(kind[:-1]) if kind.endswith("*") else Event.kind == kind)
    with transaction(sessions) as session:
        return int(session.scalar(query) or 0)
