"""``idgate init``: a ready data folder. Idempotent: never overwrites keys, certificates or users."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from idgate import ids
from idgate.config import CONFIG_FILE, KEK_ENV, load_settings, render_toml
from idgate.errors import WeakPassword
from idgate.provider import Provider
from idgate.server.tls import ensure_dev_certificates
from idgate.services import accounts
from idgate.services.keys import ensure_key
from idgate.store import db
from idgate.store.db import transaction
from idgate.store import users

ADMIN_USERNAME = "admin"
ADMIN_PERMISSIONS = ("admin", "profile:read")


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def init_command(
    data: Annotated[Path, typer.Option("--data", help="Data folder to create or complete.")] = Path(".idgate"),
    issuer: Annotated[str | None, typer.Option(help="Issuer URL (default https://localhost:8443).")] = None,
    alg: Annotated[str | None, typer.Option(help="Signing algorithm: ES256 (default), EdDSA, RS256, PS256, ES384.")] = None,
    database: Annotated[str | None, typer.Option("--database", help="Database URL (default: SQLite in DATA).")] = None,
    port: Annotated[int | None, typer.Option(help="Port written to the config (default 8443).")] = None,
) -> None:
    """Create the data folder: config, key-encryption key, TLS certificate, database, signing key, first admin."""
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    overrides = {"issuer": issuer, "signing_alg": alg, "database_url": database, "port": port}
    settings = load_settings(data, overrides)
    config_path = data / CONFIG_FILE
    if not config_path.exists():
        _write_private(config_path, render_toml(settings))
        typer.echo(f"wrote {config_path}")
    if KEK_ENV not in os.environ and not settings.kek_path.exists():
        _write_private(settings.kek_path, ids.key_encryption_key().hex() + "\n")
        typer.echo(f"wrote {settings.kek_path} (key-encryption key, mode 0600; keep it out of backups of the database)")
    if not settings.tls_cert:
        certs = ensure_dev_certificates(data / "tls")
        typer.echo(f"TLS certificate {certs.cert} (trust {certs.ca} as the CA: --ca / verify=)")
    provider = Provider(settings)
    try:
        db.upgrade(provider.engine)
        kid = ensure_key(provider.sessions, settings, provider.kek)
        if kid:
            typer.echo(f"created signing key {kid} ({settings.signing_alg})")
        _first_admin(provider)
    finally:
        provider.close()


def _first_admin(provider: Provider) -> None:
    with transaction(provider.sessions) as session:
        if users.count(session) > 0:
            typer.echo("users exist already; no admin created")
            return
    for _ in range(5):
        password = ids.password(24)
        try:
            accounts.add_user(provider.sessions, ADMIN_USERNAME, password, roles=["admin"],
                              permissions=ADMIN_PERMISSIONS)
            break
        except WeakPassword:  # astronomically unlikely for 24 random characters
            continue
    typer.echo("")
    typer.echo(f"First admin: {ADMIN_USERNAME}")
    typer.echo(f"One-time password (shown once, not stored in clear): {password}")
    typer.echo("Change it with: idgate user set-password admin --data DIR --password-stdin")
