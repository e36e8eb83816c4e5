"""The CLI: init is idempotent and private; user commands give clear errors and exit non-zero."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from sqlalchemy import text

from idgate.config.loading import load_settings
from idgate.provider import Provider

from support import GOOD_PASSWORD, Deployment, init_deployment, run_cli


def _snapshot(data: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in [data / "kek", data / "config.toml", data / "tls" / "cert.pem",
                                              data / "tls" / "key.pem", data / "tls" / "ca.pem"]}


def test_init_creates_private_files_and_is_idempotent(deployment: Deployment) -> None:
    data = deployment.data
    for name in ("kek", "config.toml", "tls/key.pem"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
    before = _snapshot(data)
    keys_before = deployment.cli("keys", "list").stdout
    again = run_cli("init", "--data", str(data), *(("--database", deployment.database_url) if deployment.database_url else ()))
    assert "One-time password" not in again.stdout and "users exist already" in again.stdout
    assert _snapshot(data) == before
    assert deployment.cli("keys", "list").stdout == keys_before


def test_admin_password_is_stored_only_as_argon2id(deployment: Deployment) -> None:
    provider = Provider(load_settings(deployment.data, {"database_url": deployment.database_url or None}))
    try:
        with provider.engine.connect() as conn:
            hashes = [row[0] for row in conn.execute(text("SELECT password_hash FROM users"))]
            sealed = [row[0] for row in conn.execute(text("SELECT private_key_enc FROM signing_keys"))]
    finally:
        provider.close()
    assert len(hashes) == 1 and hashes[0].startswith("$argon2id$v=19$m=")
    assert deployment.admin_password not in hashes[0]
    assert all(s.startswith("v1.") and "PRIVATE KEY" not in s for s in sealed)


def test_user_add_list_disable_delete(deployment: Deployment) -> None:
    out = deployment.cli("user", "add", "Bob", "--password-stdin", "--role", "reader", "--permission", "things:read",
                         "--email", "bob@example.com", "--name", "Bob B", stdin=GOOD_PASSWORD + "\n").stdout
    assert "added user bob" in out
    listing = deployment.cli("user", "list").stdout
    assert "bob" in listing and "things:read" in listing and "argon2" not in listing
    dup = deployment.cli("user", "add", "BOB", "--password-stdin", stdin=GOOD_PASSWORD + "\n", check=False)
    assert dup.returncode != 0 and "already exists" in dup.stderr
    deployment.cli("user", "disable", "bob")
    assert "yes" in deployment.cli("user", "list").stdout
    deployment.cli("user", "delete", "bob")
    assert "bob" not in deployment.cli("user", "list").stdout


def test_weak_passwords_are_refused_with_a_reason(deployment: Deployment) -> None:
    for weak, reason in (("short pass", "15"), ("passwordpassword", "common")):
        proc = deployment.cli("user", "add", "carol", "--password-stdin", stdin=weak + "\n", check=False)
        assert proc.returncode != 0, weak
        assert reason in proc.stderr.lower(), proc.stderr


def test_password_is_never_taken_from_argv(deployment: Deployment) -> None:
    proc = deployment.cli("user", "add", "dave", check=False)
    assert proc.returncode != 0 and "--password-stdin" in proc.stderr


def test_missing_data_folder_is_a_clear_error(tmp_path: Path) -> None:
    proc = run_cli("user", "list", "--data", str(tmp_path / "nope"), check=False)
    assert proc.returncode != 0 and "idgate init" in proc.stderr


def test_unknown_user_commands_fail(deployment: Deployment) -> None:
    proc = deployment.cli("user", "disable", "ghost", check=False)
    assert proc.returncode != 0 and "ghost" in proc.stderr


def test_init_refuses_unlimited_or_too_long_lifetimes(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "config.toml").write_text("access_token_ttl = 0\n")
    proc = run_cli("init", "--data", str(data), check=False)
    assert proc.returncode != 0 and "must expire" in proc.stderr
    (data / "config.toml").write_text("access_token_ttl = 604800\n")
    proc = run_cli("init", "--data", str(data), check=False)
    assert proc.returncode != 0 and "ceiling" in proc.stderr
    (data / "config.toml").write_text('access_token_ttl = "unlimited"\n')
    proc = run_cli("init", "--data", str(data), check=False)
    assert proc.returncode != 0 and "access_token_ttl" in proc.stderr


def test_init_with_each_algorithm(tmp_path: Path) -> None:
    for alg in ("EdDSA", "RS256", "PS256", "ES384"):
        dep = init_deployment(tmp_path / alg, "", "--alg", alg)
        listing = dep.cli("keys", "list").stdout
        assert alg in listing and "active" in listing


def test_keys_rotate_and_revoke(deployment: Deployment) -> None:
    first = deployment.cli("keys", "list").stdout
    new = deployment.cli("keys", "rotate").stdout.split()[-1]
    listing = deployment.cli("keys", "list").stdout
    assert new in listing and "published" in listing and "PRIVATE" not in listing and '"d"' not in listing
    old = next(line.split()[1] for line in first.splitlines() if "active" in line)
    assert deployment.cli("keys", "revoke", "--kid", old).returncode == 0  # a kid may start with "-"
    assert "revoked" in deployment.cli("keys", "list").stdout


def test_a_kid_starting_with_a_dash_gets_a_clear_answer(deployment: Deployment) -> None:
    """RFC 7638 kids are base64url: one in 64 starts with '-', which the command line reads as an
    option. The positional form says what to do (no traceback); --kid and `--` both work."""
    dashed = "-GPVITsd6LecR3EpduGB6spUcg_Byrym2sElMJl_gOI"  # no such key: the point is the parsing
    positional = run_cli("keys", "revoke", dashed, "--data", str(deployment.data), check=False)
    assert positional.returncode == 2 and "Traceback" not in positional.stderr
    assert "put '--' before it" in positional.stderr and "--kid" in positional.stderr
    for args in (["keys", "revoke", "--kid", dashed, "--data", str(deployment.data)],
                 ["keys", "revoke", "--data", str(deployment.data), "--", dashed]):
        reached = run_cli(*args, check=False)
        assert reached.returncode == 1 and "No active or published key" in reached.stderr, args
        assert "Traceback" not in reached.stderr


def test_hs256_needs_explicit_opt_in(tmp_path: Path) -> None:
    proc = run_cli("init", "--data", str(tmp_path / "hs"), "--alg", "HS256", check=False)
    assert proc.returncode != 0 and "allow_hs256" in proc.stderr
    assert json  # keep import used
