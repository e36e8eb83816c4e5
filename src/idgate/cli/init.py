"""``idgate init``: a ready data folder. Idempotent: never overwrites keys, certificates or users."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

from idgate import ids
from idgate.config.schema import CONFIG_FILE, KEK_ENV
from idgate.config.loading import load_settings, render_toml
from idgate.errors import WeakPassword
from idgate.provider import Provider
from idgate.services import accounts
from idgate.services.clients import registry
from idgate.services.clients.metadata import ClientSpec
from idgate.services.device_flow import DEVICE_GRANT
from idgate.services.keys import ensure_key
from idgate.store import db
from idgate.store.db import transaction
from idgate.store import users

ADMIN_USERNAME = "admin"
ADMIN_PERMISSIONS = ("admin", "profile:read")
CLI_CLIENT_ID = "idgate-cli"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


@dataclass
class InitResult:
    lines: list[str] = field(default_factory=list)
    admin_password: str | None = None


def initialise(data: Path, *, issuer: str | None = None, alg: str | None = None, database: str | None = None,
               port: int | None = None) -> InitResult:
    """Create whatever is missing in ``data``; never overwrite. Returns what was done."""
    result = InitResult()
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    overrides = {"issuer": issuer, "signing_alg": alg, "database_url": database, "port": port}
    settings = load_settings(data, overrides)
    config_path = data / CONFIG_FILE
    if not config_path.exists():
        _write_private(config_path, render_toml(settings))
        result.lines.append(f"wrote {config_path}")
    if KEK_ENV not in os.environ and not settings.kek_path.exists():
        _write_private(settings.kek_path, ids.key_encryption_key().hex() + "\n")
        result.lines.append(f"wrote {settings.kek_path} (key-encryption key, mode 0600; keep it out of database backups)")
    if not settings.tls_cert:
        from idgate.server.certs import ensure_dev_certificates  # cryptography x509: only when needed

        certs = ensure_dev_certificates(data / "tls")
        result.lines.append(f"TLS certificate {certs.cert} (trust {certs.ca} as the CA: --ca / verify=)")
    sqlite_file = data / "idgate.db"
    if not settings.database_url and not sqlite_file.exists():
        _write_private(sqlite_file, "")  # SQLite keeps this mode for its -wal and -shm files too
    provider = Provider(settings)
    try:
        db.upgrade(provider.engine)
        kid = ensure_key(provider.sessions, settings, provider.kek)
        if kid:
            result.lines.append(f"created signing key {kid} ({settings.signing_alg})")
        if _cli_client(provider):
            result.lines.append(f"registered the public client {CLI_CLIENT_ID} (idgate login --device)")
        result.admin_password = _first_admin(provider)
        if result.admin_password is None:
            result.lines.append("users exist already; no admin created")
    finally:
        provider.close()
    return result


def init_command(
    data: Annotated[Path, typer.Option("--data", help="Data folder to create or complete.")] = Path(".idgate"),
    issuer: Annotated[str | None, typer.Option(help="Issuer URL (default https://localhost:8443).")] = None,
    alg: Annotated[str | None, typer.Option(help="Signing algorithm: ES256 (default), EdDSA, RS256, PS256, ES384.")] = None,
    database: Annotated[str | None, typer.Option("--database", help="Database URL (default: SQLite in DATA).")] = None,
    port: Annotated[int | None, typer.Option(help="Port written to the config (default 8443).")] = None,
) -> None:
    """Create the data folder: config, key-encryption key, TLS certificate, database, signing key, first admin."""
    result = initialise(data, issuer=issuer, alg=alg, database=database, port=port)
    for line in result.lines:
        typer.echo(line)
    if result.admin_password is not None:
        typer.echo("")
        typer.echo(f"First admin: {ADMIN_USERNAME}")
        typer.echo(f"One-time password (shown once, not stored in clear): {result.admin_password}")
        typer.echo(f"Change it with: idgate user set-password {ADMIN_USERNAME} --data {data} --password-stdin")


def _cli_client(provider: Provider) -> bool:
    """The command line's own public client, for ``idgate login --device`` (RFC 8628): signing
    the CLI in through a browser works for every account, with TOTP or a passkey too."""
    with transaction(provider.sessions) as session:
        if registry.get_client(session, CLI_CLIENT_ID) is not None:
            return False
    registry.add_client(provider.sessions, ClientSpec(
        client_id=CLI_CLIENT_ID, name="idgate command line", public=True, redirect_uris=[],
        grant_types=[DEVICE_GRANT, "refresh_token"], scopes=["openid profile email"]))
    return True


def _first_admin(provider: Provider) -> str | None:
    with transaction(provider.sessions) as session:
        if users.count(session) > 0:
            return None
    for _ in range(5):
        password = ids.password(24)
        try:
            accounts.add_user(provider.sessions, ADMIN_USERNAME, password, roles=["admin"],
                              permissions=ADMIN_PERMISSIONS)
            return password
        except WeakPassword:  # astronomically unlikely for 24 random characters
            continue
    raise WeakPassword("Could not generate an admin password that passes the policy.")
