"""``idgate audience add|list|remove|set-key``: resource servers tokens may be minted for."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from idgate.cli.common import DatabaseOpt, DataOpt, provider_for
from idgate.services import audiences

app = typer.Typer(no_args_is_help=True)
EncKey = Annotated[Path | None, typer.Option("--enc-key", help="The service's PUBLIC encryption key (JWK or PEM): "
                                              "tokens for it become signed-then-encrypted JWTs.")]


@app.command("add")
def add(audience: str, data: DataOpt, enc_key: EncKey = None, database: DatabaseOpt = None) -> None:
    """Register a resource server (its identifier URL), optionally with an encryption key."""
    with provider_for(data, database) as provider:
        info = audiences.add(provider.sessions, audience, enc_key.read_bytes() if enc_key else None)
    typer.echo(f"registered {info.audience}" + (f" (tokens encrypted with {info.key_alg} + A256GCM)" if info.encrypted else ""))


@app.command("set-key")
def set_key(audience: str, data: DataOpt, enc_key: EncKey = None, database: DatabaseOpt = None) -> None:
    """Set or clear (no --enc-key) a resource server's encryption key."""
    with provider_for(data, database) as provider:
        info = audiences.set_key(provider.sessions, audience, enc_key.read_bytes() if enc_key else None)
    typer.echo(f"{info.audience}: " + ("encrypted" if info.encrypted else "signed only"))


@app.command("list")
def list_(data: DataOpt, database: DatabaseOpt = None) -> None:
    """List registered resource servers."""
    with provider_for(data, database) as provider:
        rows = audiences.list_all(provider.sessions)
    table = Table("audience", "tokens")
    for row in rows:
        table.add_row(row.audience, f"encrypted ({row.key_alg})" if row.encrypted else "signed")
    Console(width=200).print(table)


@app.command("remove")
def remove(audience: str, data: DataOpt, database: DatabaseOpt = None) -> None:
    """Stop minting tokens for a resource server."""
    with provider_for(data, database) as provider:
        audiences.remove(provider.sessions, audience)
    typer.echo(f"removed {audience}")
