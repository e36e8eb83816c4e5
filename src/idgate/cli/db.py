"""``idgate db upgrade``: run migrations explicitly (serve also runs them, under a lock)."""

from __future__ import annotations

import typer

from idgate.cli.common import DatabaseOpt, DataOpt, provider_for
from idgate.store import db

app = typer.Typer(no_args_is_help=True)


@app.command("upgrade")
def upgrade(data: DataOpt, database: DatabaseOpt = None) -> None:
    """Bring the database schema to the newest revision."""
    with provider_for(data, database) as provider:
        db.upgrade(provider.engine)
    typer.echo("database is up to date")
