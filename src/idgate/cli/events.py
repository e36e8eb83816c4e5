"""``idgate events tail|search``: read the security event trail (JSON lines or a table)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from idgate.cli.common import DatabaseOpt, DataOpt, open_provider
from idgate.errors import ConfigError
from idgate.events import queries as event_queries
from idgate.events.queries import EventView

app = typer.Typer(no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]
KindOpt = Annotated[str | None, typer.Option("--kind", help="Event kind, or a prefix ending in * (login.*).")]


def _print(rows: list[EventView], as_json: bool) -> None:
    if as_json:
        for r in rows:
            typer.echo(json.dumps(r.as_dict(), sort_keys=True))
        return
    table = Table("id", "time", "kind", "outcome", "actor", "ip", "request", "detail")
    for r in rows:
        table.add_row(str(r.id), r.at[:19], r.kind, r.outcome, r.actor or "", r.ip or "", r.request_id or "",
                      json.dumps(r.detail, sort_keys=True) if r.detail else "")
    Console(width=220).print(table)


def _when(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--{name} {value!r} is not an ISO 8601 time (2026-01-31 or 2026-01-31T12:00:00Z).") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


@app.command("tail")
def tail(data: DataOpt, database: DatabaseOpt = None,
         lines: Annotated[int, typer.Option("-n", "--lines", min=1, max=1000, help="How many recent events.")] = 20,
         kind: KindOpt = None, follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events.")] = False,
         as_json: JsonOpt = False,
         interval: Annotated[float, typer.Option(help="Seconds between polls with --follow.")] = 1.0) -> None:
    """The most recent events, oldest first; with --follow, new ones as they come."""
    provider = open_provider(data, database)
    try:
        rows = list(reversed(event_queries.search(provider.sessions, kind=kind, limit=lines)))
        _print(rows, as_json)
        last = rows[-1].id if rows else 0
        while follow:
            time.sleep(interval)
            new = event_queries.search(provider.sessions, kind=kind, after_id=last, limit=1000, newest_first=False)
            if new:
                _print(new, as_json)
                last = new[-1].id
    except KeyboardInterrupt:
        pass
    finally:
        provider.close()


@app.command("search")
def search(data: DataOpt, database: DatabaseOpt = None, kind: KindOpt = None,
           outcome: Annotated[str | None, typer.Option(help="success, failure, throttled, locked...")] = None,
           actor: Annotated[str | None, typer.Option(help="A user's sub, or cli:NAME.")] = None,
           user: Annotated[str | None, typer.Option(help="A username (looked up to its sub).")] = None,
           ip: Annotated[str | None, typer.Option(help="Client IP.")] = None,
           request_id: Annotated[str | None, typer.Option("--request-id", help="Request id.")] = None,
           since: Annotated[str | None, typer.Option(help="ISO time, inclusive.")] = None,
           until: Annotated[str | None, typer.Option(help="ISO time, exclusive.")] = None,
           limit: Annotated[int, typer.Option(min=1, max=1000)] = 100, as_json: JsonOpt = False) -> None:
    """Events matching every filter given, newest first."""
    provider = open_provider(data, database)
    try:
        if user is not None:
            from idgate.mfa.service import user_id_of

            actor = user_id_of(provider, user)
        rows = event_queries.search(provider.sessions, kind=kind, outcome=outcome, actor=actor, ip=ip, request_id=request_id,
                             since=_when(since, "since"), until=_when(until, "until"), limit=limit)
    finally:
        provider.close()
    _print(rows, as_json)
