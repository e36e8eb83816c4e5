"""``idgate --version`` and ``idgate version``: what is running, for bug reports and upgrades."""

from __future__ import annotations

import platform
import ssl
import sqlite3
from pathlib import Path
from typing import Annotated

import typer

from idgate import __version__


def print_version(value: bool) -> None:
    """The ``--version`` flag's callback: print and stop before any command runs."""
    if value:
        typer.echo(f"idgate {__version__}")
        raise typer.Exit()


def _database_version(data: Path, database: str | None) -> str:
    from sqlalchemy import text

    from idgate.cli.common import provider_for

    with provider_for(data, database) as provider:
        dialect = provider.engine.dialect.name
        with provider.engine.connect() as conn:
            query = "SELECT sqlite_version()" if dialect == "sqlite" else "SHOW server_version"
            return f"{dialect} {conn.execute(text(query)).scalar()}"


def version_command(
    data: Annotated[Path | None, typer.Option("--data", help="Also report the database this data folder uses.")] = None,
    database: Annotated[str | None, typer.Option("--database", help="Database URL (default: the data folder's).")] = None,
) -> None:
    """Show the versions of idgate, Python, OpenSSL and the database."""
    typer.echo(f"idgate {__version__}")
    typer.echo(f"Python {platform.python_version()} ({platform.python_implementation()})")
    typer.echo(f"OpenSSL {ssl.OPENSSL_VERSION.removeprefix('OpenSSL ')}")
    typer.echo(f"SQLite library {sqlite3.sqlite_version}")
    if data is not None:
        typer.echo(f"Database {_database_version(data, database)}")
