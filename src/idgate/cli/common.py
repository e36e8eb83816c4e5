"""Options and helpers shared by the commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from idgate.config import Settings, load_settings
from idgate.errors import ConfigError
from idgate.provider import Provider

DataOpt = Annotated[Path, typer.Option("--data", help="Data folder made by 'idgate init'.")]
DatabaseOpt = Annotated[str | None, typer.Option("--database", help="Database URL (default: SQLite in DATA).")]


def settings_for(data: Path, **overrides: Any) -> Settings:
    if not (data / "config.toml").exists():
        raise ConfigError(f"No idgate data folder at {data}; run 'idgate init --data {data}' first.")
    return load_settings(data, overrides)


def open_provider(data: Path, database: str | None = None) -> Provider:
    return Provider(settings_for(data, database_url=database))


def read_password_stdin() -> str:
    """One line from stdin, without its line ending; never from argv (ps, shell history)."""
    line = sys.stdin.readline()
    password = line[:-1] if line.endswith("\n") else line
    password = password[:-1] if password.endswith("\r") else password
    if not password:
        raise ConfigError("No password on standard input.")
    return password
