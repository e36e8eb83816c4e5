"""Reading security events back from the ``events`` table: search with filters and paging
(the admin API's ``/admin/events`` and ``idgate events``), and counts.

Events are written by :mod:`idgate.events`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from idgate.store.db import transaction
from idgate.store.models import Event


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
