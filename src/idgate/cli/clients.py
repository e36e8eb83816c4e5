"""``idgate client add|list|show|remove|rotate-secret``: registered OAuth clients.

A secret is printed once, when it is made, and stored only as a SHA-256 hash. A running server
reads clients from the database on every request, so changes apply at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from idgate.cli.common import DatabaseOpt, DataOpt, open_provider
from idgate.errors import InvalidRequest
from idgate.services.clients import registry
from idgate.services.clients.metadata import ClientSpec

app = typer.Typer(no_args_is_help=True)



@app.command("add")
def add(
    client_id: Annotated[str, typer.Argument(help="The client id (1-128 of A-Z a-z 0-9 . _ : ~ -).")],
    data: DataOpt,
    grant: Annotated[list[str] | None, typer.Option("--grant", help="authorization_code, refresh_token or "
                                                    "client_credentials (repeatable; default the first two).")] = None,
    redirect_uri: Annotated[list[str] | None, typer.Option("--redirect-uri", help="Exact redirect URI (repeatable).")] = None,
    scope: Annotated[list[str] | None, typer.Option("--scope", help="Scope the client may ask for (repeatable), "
                                                    "e.g. openid, profile, email, things:read.")] = None,
    public: Annotated[bool, typer.Option("--public", help="A public client (SPA, native app): no secret, PKCE.")] = False,
    name: Annotated[str | None, typer.Option("--name", help="Name shown on the consent page.")] = None,
    auth_method: Annotated[str | None, typer.Option("--auth-method", help="client_secret_basic (default), "
                                                    "client_secret_post, private_key_jwt, none.")] = None,
    jwks: Annotated[Path | None, typer.Option("--jwks", exists=True, dir_okay=False,
                                              help="Public JWK Set file (private_key_jwt).")] = None,
    post_logout_redirect_uri: Annotated[list[str] | None, typer.Option("--post-logout-redirect-uri",
                                                                       help="Exact URI (repeatable).")] = None,
    audience: Annotated[list[str] | None, typer.Option("--audience", help="Resource server the client's tokens "
                                                       "may name (repeatable; first is the default).")] = None,
    introspect: Annotated[bool, typer.Option("--introspect", help="May call POST /introspect.")] = False,
    skip_consent: Annotated[bool, typer.Option("--skip-consent", help="First-party app: no consent page.")] = False,
    access_token_ttl: Annotated[int | None, typer.Option(help="Access-token lifetime (s), within the ceiling.")] = None,
    refresh_token_ttl: Annotated[int | None, typer.Option(help="Refresh-token lifetime (s), within the server's.")] = None,
    dpop: Annotated[bool | None, typer.Option("--dpop/--no-dpop", help="Require DPoP-bound tokens (RFC 9449 "
                                              "§5.2). Default: the server's dpop_bound_access_tokens_default.")] = None,
    require_passkey: Annotated[bool, typer.Option("--require-passkey", help="Sign-ins for this client must use a "
                                                  "passkey (acr phr); password-only sessions are stepped up.")] = False,
    backchannel_logout_uri: Annotated[str | None, typer.Option("--backchannel-logout-uri", help="Where idgate "
                                      "POSTs logout tokens (OIDC Back-Channel Logout 1.0).")] = None,
    backchannel_session_required: Annotated[bool, typer.Option("--backchannel-logout-session-required",
                                            help="Logout tokens must carry sid.")] = False,
    database: DatabaseOpt = None,
) -> None:
    """Register a client; a confidential client's secret is printed once."""
    jwks_doc = None
    if jwks is not None:
        try:
            jwks_doc = json.loads(jwks.read_text())
        except ValueError:
            raise InvalidRequest(f"{jwks} is not JSON.") from None
    spec = ClientSpec(client_id=client_id, grant_types=grant or ["authorization_code", "refresh_token"],
                      redirect_uris=redirect_uri or [], scopes=scope or [], public=public, name=name or "",
                      auth_method=auth_method, post_logout_redirect_uris=post_logout_redirect_uri or [],
                      audiences=audience or [], jwks=jwks_doc, introspect=introspect, skip_consent=skip_consent,
                      access_token_ttl=access_token_ttl, refresh_token_ttl=refresh_token_ttl,
                      dpop_bound_access_tokens=dpop, require_passkey=require_passkey,
                      backchannel_logout_uri=backchannel_logout_uri,
                      backchannel_logout_session_required=backchannel_session_required)
    provider = open_provider(data, database)
    try:
        client, secret = registry.add_client(provider.sessions, spec,
                                             dpop_default=provider.settings.dpop_bound_access_tokens_default)
    finally:
        provider.close()
    kind = "public" if client.public else "confidential"
    dpop_note = "; DPoP required" if client.dpop_bound_access_tokens else ""
    typer.echo(f"added {kind} client {client.client_id} ({client.auth_method}; grants {' '.join(client.grant_types)}"
               f"{dpop_note})")
    if secret is not None:
        typer.echo(f"client_secret (shown once, stored only as a hash): {secret}")


@app.command("list")
def list_(data: DataOpt, database: DatabaseOpt = None,
          as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List clients (never their secrets)."""
    provider = open_provider(data, database)
    try:
        rows = registry.list_clients(provider.sessions)
    finally:
        provider.close()
    if as_json:
        typer.echo(json.dumps([c.as_dict() for c in rows], indent=2))
        return
    table = Table("client_id", "type", "auth", "grants", "redirect URIs", "scopes")
    for c in rows:
        table.add_row(c.client_id, "public" if c.public else "confidential", c.auth_method, " ".join(c.grant_types),
                      "\n".join(c.redirect_uris), " ".join(c.scopes))
    Console(width=200).print(table)


@app.command("show")
def show(client_id: str, data: DataOpt, database: DatabaseOpt = None) -> None:
    """Show one client as JSON (RFC 7591 names)."""
    provider = open_provider(data, database)
    try:
        client = registry.require_client(provider.sessions, client_id)
    finally:
        provider.close()
    typer.echo(json.dumps(client.as_dict(), indent=2))


@app.command("remove")
def remove(client_id: str, data: DataOpt, database: DatabaseOpt = None) -> None:
    """Remove a client: its codes and consents go, its tokens stop refreshing."""
    provider = open_provider(data, database)
    try:
        registry.remove_client(provider.sessions, client_id)
    finally:
        provider.close()
    typer.echo(f"removed client {client_id}")


@app.command("rotate-secret")
def rotate_secret(client_id: str, data: DataOpt, database: DatabaseOpt = None) -> None:
    """Replace a client's secret; the old one stops working at once."""
    provider = open_provider(data, database)
    try:
        secret = registry.rotate_secret(provider.sessions, client_id)
    finally:
        provider.close()
    typer.echo(f"client_secret (shown once, stored only as a hash): {secret}")
