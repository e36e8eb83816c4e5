"""``idgate exchange allow|list|remove``: the token-exchange policy (RFC 8693): which client may
trade a user's token for one API into a token for another."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from idgate.cli.common import DatabaseOpt, DataOpt, provider_for
from idgate.events import cli_actor
from idgate.services import token_exchange

app = typer.Typer(no_args_is_help=True)
From = Annotated[str, typer.Option("--from", help="Audience of the tokens the client receives (the API it serves).")]
To = Annotated[str, typer.Option("--to", help="Audience of the new tokens (the API it calls for the user).")]


@app.command("allow")
def allow(client_id: str, data: DataOpt, subject_audience: From, audience: To, database: DatabaseOpt = None) -> None:
    """Let CLIENT_ID exchange users' tokens for --from into tokens for --to."""
    with provider_for(data, database) as provider:
        policy = token_exchange.allow(provider, client_id, subject_audience, audience, actor=cli_actor())
    typer.echo(f"{policy.client_id} may exchange tokens for {policy.subject_audience} into tokens for "
               f"{policy.audience}")


@app.command("list")
def list_(data: DataOpt, client_id: Annotated[str | None, typer.Option("--client")] = None,
          database: DatabaseOpt = None) -> None:
    """List the allowed exchanges."""
    with provider_for(data, database) as provider:
        rows = token_exchange.policies(provider, client_id)
    table = Table("client", "from (subject token audience)", "to (new token audience)")
    for row in rows:
        table.add_row(row.client_id, row.subject_audience, row.audience)
    Console(width=200).print(table)


@app.command("remove")
def remove(client_id: str, data: DataOpt, subject_audience: From, audience: To, database: DatabaseOpt = None) -> None:
    """Stop allowing an exchange."""
    with provider_for(data, database) as provider:
        token_exchange.disallow(provider, client_id, subject_audience, audience, actor=cli_actor())
    typer.echo(f"removed: {client_id} {subject_audience} -> {audience}")
