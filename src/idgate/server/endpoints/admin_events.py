"""``/admin/events``: search the security event trail, newest first, for an admin token.

The admin check, page parameters and replies are :mod:`idgate.server.endpoints.admin`'s; the
search is :func:`idgate.events.queries.search` (as for ``idgate events search``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import BaseModel

from idgate.server.deps import provider_of
from idgate.server.endpoints.admin import Admin, Limit, admin_router, in_thread, json_reply
from idgate.events import queries as event_queries

router = admin_router()


class EventOut(BaseModel):
    id: int
    at: str
    kind: str
    outcome: str
    actor: str | None
    client_id: str | None
    ip: str | None
    request_id: str | None
    detail: dict[str, Any]


class EventPage(BaseModel):
    items: list[EventOut]
    next_before_id: int | None


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@router.get("/events", summary="Search security events, newest first", response_model=EventPage)
async def list_events(
    request: Request, actor: Admin, limit: Limit = 50,
    kind: Annotated[str | None, Query(max_length=64, description="Exact kind, or a prefix ending in * (login.*)")] = None,
    outcome: Annotated[str | None, Query(max_length=32)] = None,
    subject: Annotated[str | None, Query(alias="actor", max_length=128, description="Actor (a sub or cli:NAME)")] = None,
    ip: Annotated[str | None, Query(max_length=64)] = None,
    request_id: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None, until: datetime | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**62, description="Page: events older than this id")] = None,
) -> Any:
    try:
        since_utc, until_utc = _utc(since), _utc(until)
    except (OverflowError, ValueError):
        from idgate.errors import InvalidRequest

        raise InvalidRequest("Invalid time range.") from None
    rows = await in_thread(event_queries.search, provider_of(request).sessions, kind=kind, outcome=outcome,
                           actor=subject, ip=ip, request_id=request_id, since=since_utc, until=until_utc,
                           before_id=before_id, limit=limit)
    nxt = rows[-1].id if len(rows) == limit else None
    return json_reply({"items": [r.as_dict() for r in rows], "next_before_id": nxt})
