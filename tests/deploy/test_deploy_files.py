"""The deployment files in deploy/ say only what idgate really does.

* ``deploy/idgate.service`` passes ``systemd-analyze verify`` and its ``ExecStart`` uses real options;
* ``deploy/compose.yaml`` is valid under the Compose Specification's JSON schema (vendored in
  ``compose-spec.json`` beside this file, see ``README.md`` here), and keeps idgate read-only with
  health-gated dependencies and the ``IDGATE_*`` variables idgate reads;
* ``deploy/Dockerfile``'s ``ENTRYPOINT``/``CMD`` name a real subcommand and real options, it runs as a
  non-root user and its health check asks a route the app has.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import jsonschema
import pytest
import yaml

from idgate.config.schema import KEK_ENV, Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "idgate.service"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE_SCHEMA = Path(__file__).with_name("compose-spec.json")
HEALTH_ENDPOINTS = ROOT / "src" / "idgate" / "server" / "endpoints" / "health.py"

OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


# --- helpers -------------------------------------------------------------------------------------


def idgate_script() -> Path:
    """The ``idgate`` console script of the interpreter running the tests."""
    return Path(sys.executable).with_name("idgate")


@cache
def help_options(*command: str) -> frozenset[str]:
    """Every ``--option`` that ``idgate COMMAND --help`` lists (this checkout's code)."""
    script = idgate_script()
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "idgate"]
    env = dict(os.environ, COLUMNS="250", NO_COLOR="1", TERM="dumb")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    done = subprocess.run([*argv, *command, "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, f"idgate {' '.join(command)} --help failed:\n{done.stdout}\n{done.stderr}"
    options = frozenset(OPTION.findall(done.stdout))
    assert "--help" in options, done.stdout
    return options


def options_in(argv: list[str]) -> set[str]:
    return {arg.split("=", 1)[0] for arg in argv if arg.startswith("--")}


def unit_entries(text: str) -> dict[str, list[str]]:
    """``Key`` -> every value it is given in the unit (continuation lines joined)."""
    entries: dict[str, list[str]] = {}
    for line in text.replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        entries.setdefault(key.strip(), []).append(value.strip())
    return entries


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` in order, with line continuations joined, comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\s*\n", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        line = line.strip()
        if line:
            word, _, rest = line.partition(" ")
            instructions.append((word.upper(), rest.strip()))
    return instructions


def dockerfile_values(name: str) -> list[str]:
    return [args for word, args in dockerfile_instructions(DOCKERFILE.read_text()) if word == name]


def real_environment_variables() -> set[str]:
    """The ``IDGATE_<KEY>`` variables idgate's settings read, and the key-encryption key's."""
    return {"IDGATE_" + f.name.upper() for f in dataclasses.fields(Settings) if f.name != "data_dir"} | {KEK_ENV}


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


# --- systemd unit ------------------------------------------------------------------------------


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    script = idgate_script()
    if not script.exists():
        pytest.skip(f"no idgate console script beside {sys.executable} (pip install -e . first)")
    text = UNIT.read_text()
    exec_start = unit_entries(text)["ExecStart"][0]
    # verify checks that ExecStart's binary exists: point it at this venv's console script.
    copy = tmp_path / "idgate.service"
    binary = exec_start.split()[0]
    copy.write_text(re.sub(r"(?m)^ExecStart=" + re.escape(binary), lambda _: "ExecStart=" + str(script), text))

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run([analyze, "verify", "--man=no", str(copy)], capture_output=True, text=True,
                              timeout=60)

    done = verify()
    if done.returncode != 0 and re.search(r"user|group", done.stderr, re.IGNORECASE):
        # No `idgate` account on this machine: check everything else with one that exists.
        copy.write_text(re.sub(r"(?m)^(User|Group)=.*$", r"\1=root", copy.read_text()))
        done = verify()
    assert done.returncode == 0, done.stderr
    # Unknown keys and bad values are only warnings for verify: none may concern this unit.
    about_unit = [line for line in done.stderr.splitlines() if copy.name in line]
    assert not about_unit, "\n".join(about_unit)


def test_systemd_exec_start_uses_real_options() -> None:
    entries = unit_entries(UNIT.read_text())
    argv = entries["ExecStart"][0].split()
    assert Path(argv[0]).name == "idgate"
    assert argv[1] == "serve"
    used = options_in(argv[2:])
    assert used, argv
    assert used <= help_options("serve"), used - help_options("serve")
    data = argv[argv.index("--data") + 1]
    assert data == "/var/lib/" + entries["StateDirectory"][0]
    assert data in entries["ReadWritePaths"][0].split()


def test_systemd_unit_hardening() -> None:
    entries = unit_entries(UNIT.read_text())
    one = {key: values[-1] for key, values in entries.items()}
    assert one["Type"] == "simple"
    assert one["User"] not in ("root", "0")
    expected = {
        "ProtectSystem": "strict", "ProtectHome": "true", "PrivateTmp": "true", "NoNewPrivileges": "true",
        "PrivateDevices": "true", "ProtectKernelTunables": "true", "ProtectKernelModules": "true",
        "ProtectKernelLogs": "true", "ProtectControlGroups": "true", "RestrictNamespaces": "true",
        "LockPersonality": "true", "CapabilityBoundingSet": "", "Restart": "on-failure",
    }
    assert {key: one.get(key) for key in expected} == expected
    assert set(one["RestrictAddressFamilies"].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert "@system-service" in entries["SystemCallFilter"]
    assert int(one["LimitNOFILE"]) >= 4096


# --- compose -----------------------------------------------------------------------------------


def compose_validator() -> jsonschema.protocols.Validator:
    # The schema says draft-07 as "https://json-schema.org/draft-07/schema" (no "#"), a spelling
    # jsonschema does not map to its draft-07 validator by itself.
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    assert "draft-07" in schema["$schema"]
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_compose_file_matches_the_compose_specification() -> None:
    errors = sorted(compose_validator().iter_errors(compose()), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_compose_schema_refuses_what_it_should() -> None:
    """The vendored schema is the real one: it catches a misspelt key and a wrong condition."""
    validator = compose_validator()
    bad = compose()
    bad["services"]["idgate"]["readonly"] = True
    assert not validator.is_valid(bad)
    bad = compose()
    bad["services"]["idgate"]["depends_on"]["postgres"]["condition"] = "service_ready"
    assert not validator.is_valid(bad)


def test_compose_idgate_is_read_only_and_waits_for_healthy_backends() -> None:
    doc = compose()
    services = doc["services"]
    idgate = services["idgate"]
    assert idgate["read_only"] is True
    tmpfs = idgate["tmpfs"] if isinstance(idgate["tmpfs"], list) else [idgate["tmpfs"]]
    assert any(entry.split(":")[0] == "/tmp" for entry in tmpfs)
    data_volumes = [v.split(":")[0] for v in idgate["volumes"] if v.split(":")[1] == "/data"]
    assert data_volumes and data_volumes[0] in doc["volumes"], "a named volume for /data"
    assert idgate["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                    "redis": {"condition": "service_healthy"}}
    assert services["postgres"]["image"].split(":")[1].startswith("16")
    assert services["redis"]["image"].split(":")[1].startswith("7")
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "ping" in services["redis"]["healthcheck"]["test"]
    assert "ports" not in services["postgres"] and "ports" not in services["redis"]


def test_compose_sets_variables_idgate_reads() -> None:
    idgate = compose()["services"]["idgate"]
    environment = idgate["environment"]
    assert isinstance(environment, dict)
    ours = {name for name in environment if name.startswith("IDGATE_")}
    assert ours <= real_environment_variables(), ours - real_environment_variables()
    database = environment["IDGATE_DATABASE_URL"]
    redis = environment["IDGATE_REDIS_URL"]
    assert database.startswith("postgresql://") and "@postgres:5432/" in database
    assert redis.startswith("redis://redis:6379")
    assert idgate["build"]["dockerfile"] == "deploy/Dockerfile"


# --- Dockerfile --------------------------------------------------------------------------------


def test_dockerfile_entrypoint_and_cmd_use_real_commands() -> None:
    (entrypoint,) = dockerfile_values("ENTRYPOINT")
    (cmd,) = dockerfile_values("CMD")
    assert json.loads(entrypoint) == ["idgate"]
    argv = json.loads(cmd)
    assert argv[0] == "serve"
    used = options_in(argv[1:])
    assert {"--data", "--host", "--port"} <= used
    assert used <= help_options(argv[0]), used - help_options(argv[0])
    assert argv[argv.index("--data") + 1] == "/data"
    assert dockerfile_values("EXPOSE") == [argv[argv.index("--port") + 1]]
    assert any("/data" in volume for volume in dockerfile_values("VOLUME"))


def test_documented_init_commands_use_real_options() -> None:
    """Every `... init --data ...` line in deploy/ (first-run instructions) names real options."""
    seen = 0
    for path in sorted(p for p in DEPLOY.iterdir() if p.is_file()):
        for line in path.read_text().splitlines():
            match = re.search(r"\binit (--data\b.*)$", line)
            if match:
                seen += 1
                used = set(OPTION.findall(match.group(1)))
                assert used <= help_options("init"), f"{path.name}: {line.strip()}"
    assert seen >= 3


def test_dockerfile_runs_as_non_root_and_is_multi_stage() -> None:
    instructions = dockerfile_instructions(DOCKERFILE.read_text())
    froms = [args for word, args in instructions if word == "FROM"]
    assert len(froms) >= 2
    assert re.search(r"\bAS\s+builder\b", froms[0], re.IGNORECASE)
    users = [args for word, args in instructions if word == "USER"]
    assert users, "USER missing"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user == "10001"
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    assert any(word == "USER" for word, _ in instructions[last_from:]), "USER in the runtime stage"
    assert any(word == "WORKDIR" for word, _ in instructions[last_from:])
    assert any('pip install' in args and "[postgres,redis]" in args for word, args in instructions if word == "RUN")


def test_dockerfile_healthcheck_asks_a_real_route() -> None:
    (healthcheck,) = dockerfile_values("HEALTHCHECK")
    _, _, cmd = healthcheck.partition(" CMD ")
    argv = json.loads(cmd)
    assert argv[1] == "-c"
    compile(argv[2], "<healthcheck>", "exec")  # the probe is valid Python
    match = re.search(r"https://127\.0\.0\.1:(\d+)(/[\w/-]*)", argv[2])
    assert match, argv[2]
    port, path = match.groups()
    assert port == dockerfile_values("EXPOSE")[0]
    assert "/data/tls/ca.pem" in argv[2], "trusts the data folder's CA"
    assert re.search(r"@router\.get\(\"" + re.escape(path) + '"', HEALTH_ENDPOINTS.read_text()), path
