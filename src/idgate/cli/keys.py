"""``idgate keys list|rotate|revoke``. Private keys are never printed."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from idgate.cli.common import DatabaseOpt, DataOpt, provider_for
from idgate.services import keys
from idgate.events import cli_actor

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_(data: DataOpt, database: DatabaseOpt = None) -> None:
    """List signing keys with their state (active, published, retired, revoked)."""
    with provider_for(data, database) as provider:
        rows = keys.list_keys(provider.sessions)
    table = Table("kid", "alg", "state", "created", "retire after")
    for k in rows:
        table.add_row(k.kid, k.alg, k.state, k.created_at, k.retire_after or "")
    Console(width=200).print(table)


@app.command("rotate")
def rotate(data: DataOpt, database: DatabaseOpt = None) -> None:
    """Make a new active key; the old one stays in the JWKS until its tokens have expired."""
    with provider_for(data, database) as provider:
        kid = keys.rotate(provider.sessions, provider.settings, provider.kek, actor=cli_actor())
    typer.echo(f"new active key {kid}")


@app.command("revoke")
def revoke(data: DataOpt,
           kid_arg: Annotated[str | None, typer.Argument(metavar="KID", show_default=False,
                                                          help="The key's kid (as `keys list` shows it).")] = None,
           kid_opt: Annotated[str | None, typer.Option("--kid", show_default=False,
                                                       help="The same, as an option: a kid is base64url and may "
                                                            "start with '-', which the shell line would take "
                                                            "for an option (or write `-- KID`).")] = None,
           database: DatabaseOpt = None) -> None:
    """Withdraw a compromised key at once: gone from the JWKS, its tokens fail."""
    if (kid_arg is None) == (kid_opt is None):
        raise typer.BadParameter("give the key's kid once: `keys revoke KID` or `keys revoke --kid KID`")
    kid = kid_arg if kid_arg is not None else str(kid_opt)
    with provider_for(data, database) as provider:
        new_kid = keys.revoke(provider.sessions, provider.settings, provider.kek, kid, actor=cli_actor())
    typer.echo(f"revoked {kid}" + (f"; new active key {new_kid}" if new_kid else ""))
