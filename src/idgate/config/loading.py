"""Loading settings: secure defaults in code, then ``DATA/config.toml``, then ``IDGATE_*``
environment variables, then command-line flags (each later source wins); the key-encryption key;
and showing settings with their secrets redacted. The schema is :mod:`idgate.config.schema`.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from idgate.config.schema import ACCESS_TTL_CEILING, CONFIG_FILE, KEK_ENV, Secret, Settings
from idgate.errors import ConfigError

_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
# Values shown as "<redacted>" by `idgate config show`; URLs keep all but their password.
SECRET_KEYS = frozenset({"metrics_token"})
URL_KEYS = frozenset({"database_url", "redis_url"})


def _coerce(key: str, value: Any) -> Any:
    kind = str(_FIELDS[key].type)
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if kind == "Path":
            return Path(value)
        if key in SECRET_KEYS:
            return Secret(value)
        if kind.startswith("tuple"):
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            return tuple(str(v) for v in value)
        return str(value)
    except (TypeError, ValueError):
        if key.endswith("_ttl"):
            raise ConfigError(
                f"Config '{key}' is {value!r}: a lifetime is a number of seconds, and tokens must expire "
                f"('unlimited' is refused: a stolen token would work forever). Access tokens: at most "
                f"{ACCESS_TTL_CEILING}."
            ) from None
        raise ConfigError(f"Config '{key}' has an invalid value {value!r}; expected {kind}.") from None


def load_settings(data_dir: Path | str, overrides: dict[str, Any] | None = None,
                  environ: dict[str, str] | None = None) -> Settings:
    """Defaults, then DATA/config.toml, then IDGATE_* variables, then ``overrides`` (CLI flags)."""
    data_dir = Path(data_dir)
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = data_dir / CONFIG_FILE
    if path.exists():
        try:
            values.update(tomllib.loads(path.read_text()))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    for key in _FIELDS:
        env_value = env.get("IDGATE_" + key.upper())
        if env_value is not None:
            values[key] = env_value
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"Unknown config key(s) {', '.join(unknown)} in {path}; see README 'Configuration'.")
    values["data_dir"] = data_dir
    return Settings(**{k: _coerce(k, v) for k, v in values.items()}).validate()


def setting_sources(data_dir: Path | str, overrides: dict[str, Any] | None = None,
                    environ: dict[str, str] | None = None) -> dict[str, str]:
    """Where each effective value came from, in :func:`load_settings`' precedence: ``default``,
    ``config.toml``, ``env IDGATE_<KEY>`` or ``command line``."""
    env = os.environ if environ is None else environ
    sources = {key: "default" for key in _FIELDS}
    path = Path(data_dir) / CONFIG_FILE
    if path.exists():
        try:
            for key in tomllib.loads(path.read_text()):
                sources[key] = CONFIG_FILE
        except tomllib.TOMLDecodeError:
            pass
    for key in _FIELDS:
        if env.get("IDGATE_" + key.upper()) is not None:
            sources[key] = "env IDGATE_" + key.upper()
    for key, value in (overrides or {}).items():
        if value is not None:
            sources[key] = "command line"
    sources["data_dir"] = "command line"
    return {k: v for k, v in sources.items() if k in _FIELDS}


def redact_url(url: str) -> str:
    """``scheme://user:<redacted>@host/db``: a URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:<redacted>@{netloc}").geturl()


def redacted(settings: Settings) -> dict[str, Any]:
    """Every setting as plain JSON-able values, secrets replaced by ``<redacted>``."""
    out: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(settings, name)
        if name in SECRET_KEYS:
            value = "<redacted>" if value else ""
        elif name in URL_KEYS and value:
            value = redact_url(str(value))
        elif isinstance(value, Path):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[name] = value
    return out


def read_kek(settings: Settings, environ: dict[str, str] | None = None) -> bytes:
    """The key-encryption key: IDGATE_KEK (64 hex chars) or the 0600 file DATA/kek."""
    env = os.environ if environ is None else environ
    raw = env.get(KEK_ENV)
    source = KEK_ENV
    if raw is None:
        if not settings.kek_path.exists():
            raise ConfigError(f"No key-encryption key: set {KEK_ENV} or run 'idgate init --data {settings.data_dir}'.")
        raw = settings.kek_path.read_text().strip()
        source = str(settings.kek_path)
    try:
        kek = bytes.fromhex(raw.strip())
    except ValueError:
        kek = b""
    if len(kek) != 32:
        raise ConfigError(f"The key-encryption key in {source} must be 64 hex characters (32 bytes).")
    return kek


def render_toml(settings: Settings) -> str:
    """The config file `idgate init` writes: only what differs from the defaults, with docs."""
    lines = ["# idgate configuration. Environment variables IDGATE_<KEY> override these; CLI flags override both.", ""]
    defaults = Settings()
    for name, f in _FIELDS.items():
        if name == "data_dir":
            continue
        value = getattr(settings, name)
        prefix = "" if value != getattr(defaults, name) else "# "
        lines.append(f"# {f.metadata['doc']}")
        lines.append(f"{prefix}{name} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
