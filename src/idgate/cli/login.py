"""``idgate login``: a small first-party client for POST /login (the password is prompted, never argv)."""

from __future__ import annotations

import getpass
import json
import ssl
import sys
from pathlib import Path
from typing import Annotated

import httpx
import typer


def login_command(
    username: Annotated[str, typer.Argument(help="User to log in as.")],
    issuer: Annotated[str, typer.Option(help="Issuer URL, e.g. https://localhost:8443.")] = "https://localhost:8443",
    ca: Annotated[Path | None, typer.Option(help="CA bundle for the issuer's certificate (DATA/tls/ca.pem).")] = None,
    scope: Annotated[str | None, typer.Option(help="Space-separated scopes to ask for.")] = None,
    audience: Annotated[str | None, typer.Option(help="Audience (resource server) to ask for.")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
    token_only: Annotated[bool, typer.Option("--token-only", help="Print only the access token.")] = False,
) -> None:
    """Log in and print the token response."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"Password for {username}: ")
    body = {"username": username, "password": password}
    if scope:
        body["scope"] = scope
    if audience:
        body["audience"] = audience
    verify = ssl.create_default_context(cafile=str(ca)) if ca else ssl.create_default_context()
    with httpx.Client(verify=verify, timeout=10.0) as client:
        discovery = client.get(issuer.rstrip("/") + "/.well-known/openid-configuration").json()
        reply = client.post(discovery["idgate_login_endpoint"], json=body)
    if reply.status_code != 200:
        typer.echo(f"login failed ({reply.status_code}): {reply.text}", err=True)
        raise typer.Exit(1)
    data = reply.json()
    typer.echo(data["access_token"] if token_only else json.dumps(data, indent=2))
