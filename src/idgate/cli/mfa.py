"""``idgate mfa enroll|status|reset NAME``: TOTP second factors, administered from the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from idgate.cli.common import DatabaseOpt, DataOpt, open_provider
from idgate.mfa import service as mfa
from idgate.events import cli_actor

app = typer.Typer(no_args_is_help=True)


@app.command("enroll")
def enroll(name: str, data: DataOpt, database: DatabaseOpt = None,
           qr: Annotated[Path | None, typer.Option("--qr", help="Write the QR code here (SVG). Default: NAME-totp.svg")] = None,
           replace: Annotated[bool, typer.Option("--replace", help="Replace an active authenticator.")] = False) -> None:
    """Enrol a TOTP authenticator for NAME: prints the otpauth URI and ten recovery codes, writes
    the QR code as SVG (mode 0600). Hand both to the user over a safe channel; they are shown once."""
    provider = open_provider(data, database)
    try:
        user_id = mfa.user_id_of(provider, name)
        enrolment = mfa.enroll_totp(provider, user_id, confirmed=True, replace=replace, actor=cli_actor())
    finally:
        provider.close()
    path = qr or Path(f"{name}-totp.svg")
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(enrolment.qr_svg)
    typer.echo(f"TOTP enrolled for {name}. Scan {path} or open this URI in an authenticator app:")
    typer.echo(enrolment.uri)
    typer.echo("")
    typer.echo("Recovery codes (each works once; shown only now):")
    for code in enrolment.recovery_codes:
        typer.echo(f"  {code}")


@app.command("status")
def status(name: str, data: DataOpt, database: DatabaseOpt = None) -> None:
    """Whether NAME has an active second factor, and how many recovery codes are left."""
    provider = open_provider(data, database)
    try:
        result = mfa.status(provider, mfa.user_id_of(provider, name))
    finally:
        provider.close()
    required = " (required by a role)" if result.required else ""
    typer.echo(f"{name}: totp {result.totp}, {result.recovery_codes_left} recovery codes left{required}")


@app.command("reset")
def reset(name: str, data: DataOpt, database: DatabaseOpt = None) -> None:
    """Remove NAME's authenticator and recovery codes (e.g. a lost phone)."""
    provider = open_provider(data, database)
    try:
        removed = mfa.remove_totp(provider, mfa.user_id_of(provider, name), actor=cli_actor())
    finally:
        provider.close()
    typer.echo(f"removed the second factor of {name}" if removed else f"{name} had no second factor")
