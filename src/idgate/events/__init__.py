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

Rows are written by :mod:`idgate.events.rows` (one at a time, or batched by its
``BatchWriter``); they are read back with :mod:`idgate.events.queries`.
"""

from __future__ import annotations

import contextvars
import getpass
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from sqlalchemy.orm import Session, sessionmaker

from idgate import jsonenc
from idgate.clock import utcnow
from idgate.ops.logs import JsonLine
from idgate.events.rows import insert_row, store_row

if TYPE_CHECKING:
    from idgate.events.rows import BatchWriter

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
        insert_row(session, values)
    elif sessions is not None:
        store_row(sessions, values)


async def arecord(sessions: sessionmaker[Session] | None, kind: str, outcome: str = "success",
                  **kw: Any) -> None:
    """:func:`record` for the event loop: the log line (and the folding) here, the row in a
    worker thread - so a folded flood costs no thread hop and no database write."""
    if kw.get("dedupe") is not None:
        kw["dedupe"] = f"{id(sessions)}|{kw['dedupe']}"
    values = _emit_values(kind, outcome, **kw)
    if values is not None and sessions is not None:
        await anyio.to_thread.run_sync(store_row, sessions, values)


def record_batched(writer: BatchWriter, kind: str, outcome: str = "success", **kw: Any) -> None:
    """:func:`record` for the event loop's hot paths: the log line now, the row in the next
    batch (see :class:`idgate.events.rows.BatchWriter`). No I/O on the calling thread beyond the log handler."""
    values = _emit_values(kind, outcome, **kw)
    if values is not None:
        writer.add(values)
