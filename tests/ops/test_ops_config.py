"""Configuration: one precedence, `idgate config show` with sources and no secrets, and invalid
values that stop start-up naming the key."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from idgate.cli import app
from idgate.config.loading import load_settings, setting_sources
from idgate.errors import ConfigError

from support import IDGATE, Deployment, free_port, init_deployment_fast

TOKEN = "m" * 40
PG_SECRET = "pg-pass-Zq81"


def _write_config(dep: Deployment, text: str) -> None:
    path = dep.data / "config.toml"
    path.write_text(path.read_text() + "\n" + text + "\n")


def test_precedence_defaults_file_env_flags(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('port = 9000\nhash_queue = 7\nissuer = "https://id.example"\n')
    env = {"IDGATE_PORT": "9100", "IDGATE_HASH_QUEUE": "9"}
    s = load_settings(tmp_path, {"port": 9200}, environ=env)
    assert (s.port, s.hash_queue, s.issuer, s.jwks_max_age) == (9200, 9, "https://id.example", 300)
    src = setting_sources(tmp_path, {"port": 9200}, environ=env)
    assert src["port"] == "command line" and src["hash_queue"] == "env IDGATE_HASH_QUEUE"
    assert src["issuer"] == "config.toml" and src["jwks_max_age"] == "default"


def test_config_show_redacts_secrets_and_names_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deployment = init_deployment_fast(tmp_path / "data")
    _write_config(deployment, f'metrics_token = "{TOKEN}"\nredis_url = "redis://:{PG_SECRET}@127.0.0.1:6379/0"')
    monkeypatch.setenv("IDGATE_ACCESS_TOKEN_TTL", "600")
    runner = CliRunner()
    url = f"postgresql://idgate:{PG_SECRET}@db.internal/idgate"
    result = runner.invoke(app, ["config", "show", "--data", str(deployment.data), "--database", url])
    assert result.exit_code == 0, result.output
    out = result.output
    assert TOKEN not in out and PG_SECRET not in out
    kek = (deployment.data / "kek").read_text().strip()
    assert kek not in out
    lines = {line.split("=")[0].strip(): line for line in out.splitlines() if "=" in line}
    assert "<redacted>" in lines["metrics_token"] and "config.toml" in lines["metrics_token"]
    assert "postgresql://idgate:<redacted>@db.internal/idgate" in lines["database_url"]
    assert "command line" in lines["database_url"]
    assert "600" in lines["access_token_ttl"] and "env IDGATE_ACCESS_TOKEN_TTL" in lines["access_token_ttl"]
    assert "<redacted>" in lines["kek"] and "mode 0600" in lines["kek"]

    as_json = runner.invoke(app, ["config", "show", "--data", str(deployment.data), "--json"])
    doc = json.loads(as_json.output)
    assert doc["settings"]["metrics_token"] == {"value": "<redacted>", "source": "config.toml"}
    assert doc["settings"]["redis_url"]["value"] == "redis://:<redacted>@127.0.0.1:6379/0"
    assert TOKEN not in as_json.output and PG_SECRET not in as_json.output


def test_secret_settings_have_a_redacted_repr(tmp_path: Path) -> None:
    s = load_settings(tmp_path, {"metrics_token": TOKEN})
    assert s.metrics_token == TOKEN
    assert TOKEN not in repr(s)


@pytest.mark.parametrize(("where", "key", "value", "fix"), [
    ("env", "ACCESS_TOKEN_TTL", "forever", "seconds"),
    ("file", "metrics_token", '"short"', "at least 32"),
])
def test_invalid_value_stops_start_up_naming_the_key(tmp_path: Path, where: str, key: str, value: str,
                                                     fix: str) -> None:
    from idgate.cli.init import initialise

    data = tmp_path / "data"
    initialise(data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDGATE_") or k.startswith("IDGATE_TEST_")}
    if where == "env":
        env["IDGATE_" + key] = value
    else:
        (data / "config.toml").write_text((data / "config.toml").read_text() + f"\n{key} = {value}\n")
    proc = subprocess.run([IDGATE, "serve", "--data", str(data), "--port", str(free_port())], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert key.lower() in proc.stderr and fix in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("key", "value", "fix"), [
    ("max_body_bytes", "1", "256..1048576"),
    ("workers", "0", "1..64"),
    ("workers", "lots", "expected int"),
    ("log_format", "xml", "auto, json or text"),
    ("metrics_token", "x" * 31, "at least 32"),
    ("port", "70000", "1..65535"),
])
def test_invalid_operations_values_name_the_key_and_the_fix(tmp_path: Path, key: str, value: str, fix: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={"IDGATE_" + key.upper(): value})
    assert f"'{key}'" in caught.value.description and fix in caught.value.description
    assert value not in caught.value.description or key != "metrics_token"  # a secret is never echoed


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("metrics_tokn = 'x'\n")
    with pytest.raises(ConfigError, match="metrics_tokn"):
        load_settings(tmp_path)
