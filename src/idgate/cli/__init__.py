"""The ``idgate`` command line: one Typer app, one module per command group."""

from __future__ import annotations

import sys

from typing import Annotated

import typer

from idgate.cli.version import print_version, version_command
from idgate.errors import IdgateError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="idgate: a secure-by-default identity provider.")


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=print_version, is_eager=True,
                                                help="Show idgate's version and exit.")] = False) -> None:
    """idgate: a secure-by-default identity provider."""


def _register() -> None:
    from idgate.cli import audiences, audit, db, init, inspect, keys, login, serve, users, verify

    app.command("version")(version_command)
    app.command("init")(init.init_command)
    app.command("serve")(serve.serve_command)
    app.command("verify")(verify.verify_command)
    app.command("login")(login.login_command)
    app.add_typer(login.dpop_app, name="dpop", help="DPoP (RFC 9449): this user's key and proofs for requests.")
    app.command("audit")(audit.audit_command)
    app.command("inspect")(inspect.inspect_command)
    app.add_typer(users.app, name="user", help="Manage users.")
    app.add_typer(keys.app, name="keys", help="Manage signing keys.")
    app.add_typer(audiences.app, name="audience", help="Resource servers and their encryption keys.")
    app.add_typer(db.app, name="db", help="Database schema.")
    from idgate.cli import clients  # issue 4

    app.add_typer(clients.app, name="client", help="OAuth clients (third-party apps): add, list, remove, rotate-secret.")
    from idgate.cli import exchange  # issue 14

    app.add_typer(exchange.app, name="exchange", help="Token exchange (RFC 8693): which client may trade tokens "
                                                      "for which audience.")
    from idgate.cli import events, mfa  # issue 5

    app.add_typer(events.app, name="events", help="Security events: tail and search the audit trail.")
    app.add_typer(mfa.app, name="mfa", help="Second factors (TOTP): enrol, status, reset.")
    from idgate.cli import backup, config_cmd  # issue 7

    app.add_typer(config_cmd.app, name="config", help="Show the effective configuration (secrets redacted).")
    app.command("backup")(backup.backup_command)
    app.command("restore")(backup.restore_command)


_register()


def main() -> None:
    try:
        # standalone_mode=False makes Click *return* exit codes (typer.Exit) instead of exiting.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except IdgateError as exc:
        typer.echo(f"Error: {exc.description}", err=True)
        sys.exit(1)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # usage errors (Typer bundles its own Click: match by shape, not class)
        show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()
            option = getattr(exc, "option_name", "") or ""
            if type(exc).__name__ == "NoSuchOption" and option.startswith("-") and not option.startswith("--"):
                typer.echo(f"Hint: if {option!r} is a value (a key id may start with '-'), put '--' before it, "
                           "or use the command's --kid option.", err=True)
            sys.exit(exit_code)
        raise
