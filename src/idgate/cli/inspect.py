"""``idgate inspect TOKEN``: decode a JWT without trusting it and explain what it shows."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from idgate.audit.decode import describe_expiry, describe_time, number
from idgate.audit.inspection import TIME_CLAIMS, Inspection, inspect_token, load_jwks
from idgate.audit.model import Verdict

_STYLE = {Verdict.PASS: "bold green", Verdict.WARN: "bold yellow", Verdict.FAIL: "bold red", Verdict.SKIP: "dim"}


def inspect_command(
    token: Annotated[str, typer.Argument(help="The JWT, or - to read it from stdin.")],
    jwks: Annotated[str | None, typer.Option(help="Verify the signature with this JWK Set (https:// URL or file).")] = None,
    issuer: Annotated[str | None, typer.Option(help="Expected issuer when verifying (default: the token's iss).")] = None,
    audience: Annotated[str | None, typer.Option(help="Expected audience when verifying (default: the token's aud).")] = None,
    ca: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="Also trust this CA for an https --jwks URL.")] = None,
    wordlist: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="For HS256/384/512 tokens: candidate secrets, one per line.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Decode a JWT without trusting it, explain its claims and flag what is risky.

    Decoding is not verifying: use --jwks to check the signature with idgate.rs.Verifier.
    Exit status 1 on a FAIL flag or a signature that does not verify.
    """
    if token == "-":
        token = sys.stdin.readline()
    token = token.strip()
    try:
        keys = load_jwks(jwks, ca=ca) if jwks else None
        result = inspect_token(token, jwks=keys, issuer=issuer, audience=audience, wordlist=wordlist)
    except ValueError as exc:
        raise typer.BadParameter(f"not a readable JWT: {exc}", param_hint="TOKEN") from None
    if fmt == "json":
        typer.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    elif fmt == "text":
        _print(result)
    else:
        raise typer.BadParameter("--format must be text or json")
    # sys.exit, not typer.Exit: the status must survive main()'s standalone_mode=False.
    sys.exit(1 if result.failed else 0)


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _print(result: Inspection) -> None:
    console = Console(highlight=False)
    header, claims = result.token.header, result.token.claims
    width = max(len(str(k)) for k in [*header, *claims, "expiry"])
    console.print("[bold]Header[/bold] [dim](decoded, not yet trusted)[/dim]")
    for name, value in header.items():
        console.print(f"  [cyan]{escape(name):<{width}}[/cyan] {escape(_value(value))}")
    console.print("[bold]Claims[/bold]")
    for name, value in claims.items():
        shown = _value(value)
        when = number(claims, name)
        if name in TIME_CLAIMS and when is not None:
            shown = f"{shown}  {describe_time(when)}"
        console.print(f"  [cyan]{escape(name):<{width}}[/cyan] {escape(shown)}")
    console.print(f"[bold]Expiry[/bold]   {escape(describe_expiry(claims))}")
    console.print("[bold]Findings[/bold]")
    for flag in result.flags:
        console.print(f"  [{_STYLE[flag.verdict]}]{flag.verdict.value.upper():<4}[/] {escape(flag.message)}")
    if result.signature is None:
        console.print("[bold]Signature[/bold] not checked: pass --jwks URL|FILE to verify it.")
    else:
        ok, detail = result.signature
        style = "bold green" if ok else "bold red"
        console.print(f"[bold]Signature[/bold] [{style}]{'VALID' if ok else 'NOT VALID'}[/] {escape(detail)}")
