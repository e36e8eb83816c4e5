"""Local checks of an idgate data folder (``--data DIR``): what cannot be seen from outside.

Read-only: settings from ``idgate.config.loading``, rows through ``idgate.store.audit_view``, file
modes from the file system. Nothing is decrypted and nothing is written.
"""

from __future__ import annotations

import os
import re
import stat
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from idgate.audit.model import Outcome, Skip, failed, passed, warned
from idgate.audit.registry import check
from idgate.audit.target import Target

if TYPE_CHECKING:
    from idgate.config.schema import Settings

# OWASP Password Storage Cheat Sheet, Argon2id: any one of these (memory KiB, iterations), p=1,
# is the minimum; they cost about the same.
OWASP_ARGON2ID = ((47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5))
OWASP_BCRYPT_COST = 10
_ARGON2 = re.compile(r"^\$(argon2(?:id|i|d))\$(?:v=\d+\$)?m=(\d+),t=(\d+),p=(\d+)\$")
_BCRYPT = re.compile(r"^\$2[aby]\$(\d\d)\$")
TTL_CEILING = 86_400
TTL_ADVISED = 3_600


def _settings(target: Target) -> Settings:
    data = target.options.data
    if data is None:
        raise Skip("checks inside the deployment need --data DIR (an idgate data folder on this machine)")
    if not (Path(data) / "config.toml").exists():
        raise Skip(f"{data} is not an idgate data folder (no config.toml)")
    from idgate.config.loading import load_settings

    settings: Settings = target.remember("local.settings", lambda: load_settings(data))
    return settings


def _database_url(target: Target) -> str:
    return _settings(target).effective_database_url


def classify_hash(value: str) -> tuple[str, str]:
    """(verdict word 'ok'/'weak'/'bad', description) for one stored password hash."""
    match = _ARGON2.match(value)
    if match:
        kind, m, t, p = match.group(1), *(int(g) for g in match.groups()[1:])
        desc = f"{kind} m={m} KiB t={t} p={p}"
        meets = any(m >= need_m and t >= need_t for need_m, need_t in OWASP_ARGON2ID)
        if not meets:
            return "bad", desc + " (below OWASP's minimum)"
        return ("ok", desc) if kind == "argon2id" else ("weak", desc + " (OWASP recommends argon2id)")
    match = _BCRYPT.match(value)
    if match:
        cost = int(match.group(1))
        if cost < OWASP_BCRYPT_COST:
            return "bad", f"bcrypt cost {cost} (below OWASP's {OWASP_BCRYPT_COST})"
        return "weak", f"bcrypt cost {cost} (legacy: only the first 72 bytes count; rehashed at next login)"
    scheme = value.split("$")[1] if value.startswith("$") and value.count("$") > 1 else "unrecognised format"
    return "bad", f"{scheme} (not a password hash idgate accepts)"


@check("local.password-hash", group="local", title="Passwords are stored with argon2id at OWASP strength",
       explanation="""Passwords must be stored as slow, salted hashes so that a stolen database does not
       reveal them. OWASP's minimum for argon2id is 19 MiB of memory and 2 passes (or an equivalent
       trade-off); weaker settings let an attacker try billions of guesses.""",
       fix="""Keep idgate's defaults (argon2id m=19456 t=2 p=1 or stronger); users with older hashes are
       upgraded automatically at their next login.""")
def password_hash(target: Target) -> Outcome:
    from idgate.store.audit_view import password_hashes

    hashes = password_hashes(_database_url(target))
    if not hashes:
        raise Skip("the database has no users yet")
    counts: Counter[tuple[str, str]] = Counter(classify_hash(h) for h in hashes)
    text = "; ".join(f"{n} user(s): {desc}" for (_, desc), n in sorted(counts.items()))
    levels = {level for level, _ in counts}
    if "bad" in levels:
        return failed(text + ".")
    return warned(text + ".") if "weak" in levels else passed(text + ".")


@check("local.file-permissions", group="local", title="Secret files are readable by their owner only",
       explanation="""The key-encryption key, the TLS private keys and the config file let whoever reads them
       impersonate the server or decrypt its signing keys. On a shared machine, mode 0600 (owner read
       and write only) keeps other accounts out.""",
       fix="Run 'chmod 600' on each file listed (and 'chmod 700' on the data folder).")
def file_permissions(target: Target) -> Outcome:
    settings = _settings(target)
    if os.name != "posix":
        raise Skip("file modes are checked on POSIX systems only")
    data = settings.data_dir
    files = [data / "config.toml", settings.kek_path, settings.tls_key_path, data / "tls" / "ca-key.pem"]
    bad: list[str] = []
    good: list[str] = []
    for path in dict.fromkeys(files):
        if not path.exists():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        (bad if mode & 0o077 else good).append(f"{path.name} {mode:04o}")
    if not (bad or good):
        raise Skip(f"none of the secret files were found in {data}")
    if bad:
        return failed("Readable by others: " + ", ".join(bad) + (f"; fine: {', '.join(good)}" if good else "") + ".")
    return passed("Owner only: " + ", ".join(good) + ".")


@check("local.keys-encrypted", group="local", title="Signing keys are encrypted in the database",
       explanation="""The private signing key can mint any token. idgate stores it encrypted (AES-256-GCM)
       under a separate key-encryption key kept outside the database, so a database backup or leak alone
       does not give the key away.""",
       fix="""Re-create the keys with 'idgate keys rotate' on a current idgate, and keep the kek file (or
       IDGATE_KEK) out of database backups.""")
def keys_encrypted(target: Target) -> Outcome:
    from idgate.store.audit_view import sealed_signing_keys

    blobs = sealed_signing_keys(_database_url(target))
    if not blobs:
        raise Skip("the database has no signing keys yet")
    plain = sum(1 for b in blobs if not b.startswith("v1.") or "PRIVATE KEY" in b or "-----BEGIN" in b)
    if plain:
        return failed(f"{plain} of {len(blobs)} signing key row(s) are not in the encrypted 'v1.' format.")
    return passed(f"All {len(blobs)} signing key row(s) are sealed ('v1.' AES-256-GCM blobs, no PEM text).")


@check("local.token-lifetime", group="local", title="Configured access-token lifetime is short",
       explanation="""access_token_ttl is how long each access token works. idgate refuses more than a day;
       an hour or less keeps a stolen token short-lived.""",
       fix="Set access_token_ttl to 900 (15 minutes, the default) up to 3600 in config.toml.")
def token_lifetime(target: Target) -> Outcome:
    ttl = _settings(target).access_token_ttl
    text = f"access_token_ttl = {ttl} s."
    if ttl > TTL_CEILING:
        return failed(text + " Over the 24 h ceiling.")
    if ttl > TTL_ADVISED:
        return warned(text + " Over an hour.")
    return passed(text)
