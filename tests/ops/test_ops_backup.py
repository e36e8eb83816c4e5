"""`idgate backup` / `idgate restore`: online and consistent on SQLite, never the KEK."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from idgate.cli.backup import backup_sqlite
from idgate.config.loading import load_settings
from idgate.provider import Provider
from idgate.services import accounts

from support import GOOD_PASSWORD, init_deployment_fast, run_cli


def _cli(*args: str):  # type: ignore[no-untyped-def]
    """The CLI in-process (errors surface as result.exception, as main() would print them)."""
    from typer.testing import CliRunner

    from idgate.cli import app

    return CliRunner().invoke(app, list(args))


def test_online_backup_while_writing_and_restore(tmp_path: Path) -> None:
    dep = init_deployment_fast(tmp_path / "data")
    db_path = dep.data / "idgate.db"
    provider = Provider(load_settings(dep.data))
    accounts.add_user(provider.sessions, "alice", GOOD_PASSWORD)
    provider.close()
    stop = threading.Event()
    written = 0

    def writer() -> None:  # a busy server: rows keep arriving during the backup
        nonlocal written
        conn = sqlite3.connect(db_path, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS load_t (i INTEGER PRIMARY KEY, pad TEXT)")
        while not stop.is_set():
            with conn:
                conn.executemany("INSERT INTO load_t(pad) VALUES (?)", [("x" * 500,)] * 50)
            written += 50
        conn.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        while written < 2000:
            stop.wait(0.01)
        out = tmp_path / "backup.db"
        run_cli("backup", "--data", str(dep.data), "--out", str(out))
    finally:
        stop.set()
        t.join()
    assert out.stat().st_mode & 0o777 == 0o600
    conn = sqlite3.connect(out)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = conn.execute("SELECT count(*) FROM load_t").fetchone()[0]
    assert rows % 50 == 0 and rows >= 2000  # whole transactions only
    assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 2  # admin + alice
    conn.close()
    kek = (dep.data / "kek").read_text().strip()
    blob = out.read_bytes()
    assert kek.encode() not in blob and bytes.fromhex(kek) not in blob

    # never overwrites an existing file
    assert _cli("backup", "--data", str(dep.data), "--out", str(out)).exit_code != 0

    # restore into a second data folder that shares the KEK (the KEK travels separately)
    other = init_deployment_fast(tmp_path / "other")
    (other.data / "kek").write_text(kek + "\n")
    refused = _cli("restore", str(out), "--data", str(other.data))
    assert refused.exit_code != 0 and "--force" in str(refused.exception)
    ok = _cli("restore", str(out), "--data", str(other.data), "--force")
    assert ok.exit_code == 0, ok.output
    restored = Provider(load_settings(other.data))
    try:
        with restored.sessions() as s:
            from idgate.store.models import User

            assert {u.username for u in s.query(User)} == {"admin", "alice"}
        restored.keyring()
    finally:
        restored.close()


def test_restore_with_the_wrong_kek_says_so(tmp_path: Path) -> None:
    dep = init_deployment_fast(tmp_path / "data")
    out = tmp_path / "b.db"
    backup_sqlite(dep.data / "idgate.db", out)
    other = init_deployment_fast(tmp_path / "other")  # its own, different KEK
    result = _cli("restore", str(out), "--data", str(other.data), "--force")
    assert result.exit_code != 0 and "key-encryption key" in str(result.exception)


def test_not_a_backup_is_refused(tmp_path: Path) -> None:
    dep = init_deployment_fast(tmp_path / "data")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    result = _cli("restore", str(junk), "--data", str(dep.data), "--force")
    assert result.exit_code != 0 and "not an idgate" in str(result.exception)


@pytest.mark.postgres
def test_postgres_backup_points_to_pg_dump(tmp_path: Path, pg_database: str) -> None:
    dep = init_deployment_fast(tmp_path / "data", pg_database)
    result = _cli("backup", "--data", str(dep.data), "--database", pg_database, "--out", str(tmp_path / "x.db"))
    assert result.exit_code != 0 and "pg_dump" in str(result.exception)
