"""``idgate verify TOKEN``: check a token exactly as a service using idgate.rs would."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from idgate.errors import InvalidToken
from idgate.rs import Verifier
from idgate.rs.claims import confirmation_jkt


def verify_command(
    token: Annotated[str, typer.Argument(help="The access token, or - to read it from stdin.")],
    issuer: Annotated[str, typer.Option(help="Expected issuer (its discovery document gives the JWKS).")],
    audience: Annotated[str | None, typer.Option(help="Expected audience (default: the issuer).")] = None,
    ca: Annotated[Path | None, typer.Option(help="CA bundle for the issuer's TLS certificate.")] = None,
) -> None:
    """Verify a token's signature and claims; print the claims, or the reason it was refused."""
    if token == "-":
        token = sys.stdin.readline().strip()
    verifier = Verifier(issuer=issuer, audience=audience or issuer, ca=str(ca) if ca else None)
    try:
        # Inspecting, not authorizing: a DPoP-bound token is valid here, and said so.
        claims = verifier.verify(token, allow_bound=True)
        jkt = confirmation_jkt(claims)
    except InvalidToken as exc:
        typer.echo(f"INVALID: {exc.reason}", err=True)
        raise typer.Exit(1) from None
    if jkt is not None:
        typer.echo(f"DPoP-bound to key {jkt}: a service accepts it only with a proof signed by that key.", err=True)
    typer.echo(json.dumps(claims, indent=2, sort_keys=True))
