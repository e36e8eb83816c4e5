"""Options and helpers shared by the commands."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from idgate.provider import Provider

from idgate.config.loading import load_settings
from idgate.config.schema import Settings
from idgate.errors import ConfigError

DataOpt = Annotated[Path, typer.Option("--data", help="Data folder made by 'idgate init'.")]
DatabaseOpt = Annotated[str | None, typer.Option("--database", help="Database URL (default: SQLite in DATA).")]


def settings_for(data: Path, **overrides: Any) -> Settings:
    if not (data / "config.toml").exists():
        raise ConfigError(f"No idgate data folder at {data}; run 'idgate init --data {data}' first.")
    return load_settings(data, overrides)


def open_provider(data: Path, database: str | None = None) -> Provider:
    from idgate.provider import Provider  # imported on use: `idgate --help` stays fast

    return Provider(settings_for(data, database_url=database))


@contextmanager
def provider_for(data: Path, database: str | None = None) -> Iterator[Provider]:
    """A provider for one command, closed (pool, hash threads) however the command ends."""
    provider = open_provider(data, database)
    try:
        yield provider
    finally:
        provider.close()


def read_password_stdin() -> str:
    """One line from stdin, without its line ending; never from argv (ps, shell history)."""
    line = sys.stdin.readline()
    password = line[:-1] if line.endswith("\n") else line
    password = password[:-1] if password.endswith("\r") else password
    if not password:
        raise ConfigError("No password on standard input.")
    return password
