"""Issue 16: `idgate --version` and `idgate version` report what is running, from the package
metadata (pyproject.toml), with the Python, OpenSSL and database versions."""

from __future__ import annotations

import platform
import ssl
import tomllib
from importlib.metadata import version
from pathlib import Path

import idgate
from support import Deployment, run_cli

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_the_version_comes_from_the_package_metadata() -> None:
    declared = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["version"]
    assert idgate.__version__ == version("idgate") == declared


def test_version_flag_prints_one_line_and_exits_zero() -> None:
    result = run_cli("--version")
    assert result.stdout == f"idgate {idgate.__version__}\n"
    assert result.stderr == ""


def test_version_command_names_python_openssl_and_the_database(deployment: Deployment) -> None:
    args = ["version", "--data", str(deployment.data)]
    if deployment.database_url:
        args += ["--database", deployment.database_url]
    lines = run_cli(*args).stdout.splitlines()
    assert lines[0] == f"idgate {idgate.__version__}"
    assert lines[1].startswith(f"Python {platform.python_version()}")
    assert ssl.OPENSSL_VERSION.removeprefix("OpenSSL ") in lines[2]
    expected = "Database postgresql " if deployment.database_url.startswith("postgresql") else "Database sqlite "
    assert lines[-1].startswith(expected) and lines[-1][len(expected):][0].isdigit()


def test_version_with_no_data_folder_is_one_clear_line(tmp_path: Path) -> None:
    result = run_cli("version", "--data", str(tmp_path / "missing"), check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "idgate init" in result.stderr
