"""``idgate config show``: the effective configuration, where each value came from, no secrets."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from idgate.cli.common import DatabaseOpt, DataOpt, settings_for
from idgate.config.schema import KEK_ENV
from idgate.config.loading import redacted, setting_sources

app = typer.Typer(no_args_is_help=True)


def _kek_source(data: Path) -> str:
    if os.environ.get(KEK_ENV) is not None:
        return f"env {KEK_ENV}"
    path = data / "kek"
    if not path.exists():
        return "missing"
    return f"file {path} (mode {path.stat().st_mode & 0o777:04o})"


@app.command("show")
def show(data: DataOpt = Path(".idgate"), database: DatabaseOpt = None,
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print every setting with its source (default, config.toml, env IDGATE_*, command line);
    secrets (metrics_token, passwords inside URLs, the key-encryption key) are never shown."""
    overrides = {"database_url": database}
    settings = settings_for(data, **overrides)
    values = redacted(settings)
    sources = setting_sources(data, overrides)
    kek = _kek_source(data)
    if as_json:
        typer.echo(json.dumps({"settings": {k: {"value": v, "source": sources.get(k, "default")}
                                            for k, v in values.items()},
                               "kek": {"value": "<redacted>", "source": kek}}, indent=2))
        return
    width = max(len(k) for k in values)
    typer.echo("# precedence: default < config.toml < env IDGATE_<KEY> < command line")
    for key, value in values.items():
        shown = json.dumps(value) if not isinstance(value, str) else (value if value else '""')
        typer.echo(f"{key:<{width}} = {shown:<40} # {sources.get(key, 'default')}")
    typer.echo(f"{'kek':<{width}} = {'<redacted>':<40} # {kek}")
