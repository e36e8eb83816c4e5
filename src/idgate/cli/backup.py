"""``idgate backup`` / ``idgate restore``: online, consistent copies of the SQLite database.

The copy is made with SQLite's online backup API (``sqlite3.Connection.backup``), page by page
under the database's own locking, so a running server keeps answering and the copy is one
consistent snapshot, WAL included. It holds password hashes and the signing keys *encrypted*
with the key-encryption key (KEK); the KEK itself lives in ``DATA/kek`` or ``IDGATE_KEK`` and is
never written into the backup, so a stolen backup cannot sign tokens. Keep the KEK in a
different place (a secrets manager, an offline copy) from the backups.

PostgreSQL deployments use ``pg_dump``/``pg_restore`` (see README "Backup and restore").
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Annotated

import typer

from idgate.cli.common import DatabaseOpt, DataOpt, settings_for
from idgate.errors import ConfigError

PG_HINT = ("This deployment uses PostgreSQL: back it up with pg_dump, e.g. "
           "pg_dump --format=custom --file idgate.dump \"$DATABASE_URL\", and restore with "
           "pg_restore --clean --if-exists --no-owner --dbname \"$DATABASE_URL\" idgate.dump.")


def _sqlite_path(data: Path, database: str | None) -> Path:
    url = settings_for(data, database_url=database).effective_database_url
    if not url.startswith("sqlite:///"):
        raise ConfigError(PG_HINT)
    return Path(url.removeprefix("sqlite:///"))


def _check(path: Path) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{path} is not an idgate SQLite database ({exc}).") from None
    finally:
        conn.close()
    if ok != "ok":
        raise ConfigError(f"{path} fails SQLite's integrity check: {ok}")
    if not {"alembic_version", "users", "signing_keys"} <= tables:
        raise ConfigError(f"{path} is not an idgate database (no users/signing_keys/alembic_version tables).")


def backup_sqlite(source: Path, out: Path) -> None:
    """Copy ``source`` to ``out`` (created 0600, never overwritten) with the online backup API."""
    if not source.exists():
        raise ConfigError(f"No database at {source}; run 'idgate init' first.")
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    os.close(fd)
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
        dst = sqlite3.connect(out)
        try:
            with dst:
                # One step = one read transaction = one snapshot. Under WAL it does not block the
                # server's writers; a stepped copy would restart on every write from another process.
                src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            dst.close()
            src.close()
        _check(out)
    except BaseException:
        out.unlink(missing_ok=True)
        raise


def restore_sqlite(backup_file: Path, target: Path, *, force: bool) -> None:
    """Write the backup into ``target`` through the backup API (the live WAL stays consistent)."""
    _check(backup_file)
    if target.exists() and target.stat().st_size > 0 and not force:
        raise ConfigError(f"{target} already exists; stop the server and pass --force to replace it.")
    src = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    dst = sqlite3.connect(target, timeout=30)
    try:
        with dst:
            src.backup(dst)
    finally:
        dst.close()
        src.close()
    os.chmod(target, 0o600)


def backup_command(
    out: Annotated[Path, typer.Option("--out", help="Backup file to create (never overwritten; mode 0600).")],
    data: DataOpt = Path(".idgate"),
    database: DatabaseOpt = None,
) -> None:
    """Online, consistent copy of the SQLite database (never the key-encryption key)."""
    source = _sqlite_path(data, database)
    if out.exists():
        raise ConfigError(f"{out} exists; choose a new file name.")
    backup_sqlite(source, out)
    typer.echo(f"backup written to {out} ({out.stat().st_size} bytes). The key-encryption key is NOT inside: "
               f"keep {data / 'kek'} (or IDGATE_KEK) safe, separately.")


def restore_command(
    backup_file: Annotated[Path, typer.Argument(help="A file made by 'idgate backup'.", exists=True, dir_okay=False)],
    data: DataOpt = Path(".idgate"),
    database: DatabaseOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing database (stop the server first).")] = False,
) -> None:
    """Restore a backup into the data folder's SQLite database, then check the keys decrypt."""
    target = _sqlite_path(data, database)
    restore_sqlite(backup_file, target, force=force)
    from idgate.cli.common import open_provider
    from idgate.store import db

    provider = open_provider(data, database)
    try:
        db.upgrade(provider.engine)  # a backup from an older release is brought up to date
        try:
            provider.keyring()
        except Exception as exc:  # wrong KEK: the keys cannot be decrypted
            raise ConfigError(f"Restored, but the signing keys do not decrypt with this key-encryption key "
                              f"({type(exc).__name__}): use the KEK that was in force when the backup was made.") from None
    finally:
        provider.close()
    typer.echo(f"restored {backup_file} into {target}; signing keys decrypt with the current key-encryption key.")
