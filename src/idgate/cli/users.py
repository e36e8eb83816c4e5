"""``idgate user add|list|disable|enable|set-password|delete|unlock|passkeys|passkey-revoke``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from idgate.cli.common import DatabaseOpt, DataOpt, provider_for, read_password_stdin
from idgate.errors import ConfigError
from idgate.services import accounts
from idgate.events import cli_actor

app = typer.Typer(no_args_is_help=True)

PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")]


@app.command("add")
def add(name: str, data: DataOpt, password_stdin: PasswordStdin = False,
        role: Annotated[list[str] | None, typer.Option("--role", help="Role (repeatable).")] = None,
        permission: Annotated[list[str] | None, typer.Option("--permission", help="Permission (repeatable).")] = None,
        email: Annotated[str | None, typer.Option(help="Email address.")] = None,
        full_name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
        database: DatabaseOpt = None) -> None:
    """Add a user. The password comes from standard input only (never argv)."""
    if not password_stdin:
        raise ConfigError("Give the password on standard input with --password-stdin (never on the command line).")
    password = read_password_stdin()
    with provider_for(data, database) as provider:
        user = accounts.add_user(provider.sessions, name, password, roles=role or [], permissions=permission or [],
                                 email=email, name=full_name, actor=cli_actor())
    typer.echo(f"added user {user.username} (sub {user.id})")


@app.command("list")
def list_(data: DataOpt, database: DatabaseOpt = None) -> None:
    """List users (never their password hashes)."""
    with provider_for(data, database) as provider:
        rows = accounts.list_users(provider.sessions)
    table = Table("username", "sub", "roles", "permissions", "disabled")
    for u in rows:
        table.add_row(u.username, u.id, " ".join(u.roles), " ".join(u.permissions), "yes" if u.disabled else "")
    Console().print(table)


@app.command("disable")
def disable(name: str, data: DataOpt, database: DatabaseOpt = None) -> None:
    """Disable a user: no new logins, refresh tokens revoked."""
    _run(data, database, lambda p: accounts.set_disabled(p.sessions, name, True, actor=cli_actor()))
    typer.echo(f"disabled {name}")


@app.command("enable")
def enable(name: str, data: DataOpt, database: DatabaseOpt = None) -> None:
    """Enable a disabled user."""
    _run(data, database, lambda p: accounts.set_disabled(p.sessions, name, False, actor=cli_actor()))
    typer.echo(f"enabled {name}")


@app.command("set-password")
def set_password(name: str, data: DataOpt, password_stdin: PasswordStdin = False,
                 database: DatabaseOpt = None) -> None:
    """Set a new password (from stdin); ends the user's refresh tokens."""
    if not password_stdin:
        raise ConfigError("Give the password on standard input with --password-stdin.")
    password = read_password_stdin()
    _run(data, database, lambda p: accounts.set_password(p.sessions, name, password, actor=cli_actor()))
    typer.echo(f"password changed for {name}")


@app.command("delete")
def delete(name: str, data: DataOpt, database: DatabaseOpt = None) -> None:
    """Delete a user and everything issued to them."""
    _run(data, database, lambda p: accounts.delete_user(p.sessions, name, actor=cli_actor()))
    typer.echo(f"deleted {name}")


@app.command("unlock")
def unlock(name: str, data: DataOpt, database: DatabaseOpt = None) -> None:
    """Lift a lockout (too many failed logins) and clear the user's back-off counters."""
    from idgate.services import admin

    with provider_for(data, database) as provider:
        was_locked = admin.unlock_user(provider, name, actor=cli_actor())
    typer.echo(f"unlocked {name}" if was_locked else f"{name} was not locked; back-off counters cleared")


@app.command("passkeys")
def passkeys_(name: str, data: DataOpt, database: DatabaseOpt = None) -> None:
    """List a user's passkeys: id, name, synced or device-bound, added and last used."""
    from idgate.passkeys import service as passkeys

    with provider_for(data, database) as provider:
        found = passkeys.list_for(provider, name)
    if not found:
        typer.echo(f"{name} has no passkeys")
        return
    table = Table("id", "name", "kind", "added", "last used")
    for p in found:
        table.add_row(p.id, p.name, "synced" if p.synced else "device-bound", p.created_at.strftime("%Y-%m-%d %H:%M"),
                      p.last_used_at.strftime("%Y-%m-%d %H:%M") if p.last_used_at else "never")
    Console().print(table)


@app.command("passkey-revoke")
def passkey_revoke(name: str, passkey_id: Annotated[str, typer.Argument(help="The id from `idgate user passkeys`.")],
                   data: DataOpt, database: DatabaseOpt = None) -> None:
    """Revoke one of a user's passkeys (a lost or stolen device). It stops signing in at once."""
    from idgate.passkeys import service as passkeys

    with provider_for(data, database) as provider:
        passkeys.revoke(provider, name, passkey_id, actor=cli_actor())
    typer.echo(f"revoked passkey {passkey_id} of {name}")


def _run(data, database, action) -> None:  # type: ignore[no-untyped-def]
    with provider_for(data, database) as provider:
        action(provider)
