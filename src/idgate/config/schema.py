"""The settings schema: every field of :class:`Settings` with its secure default, what it does
and why, and the checks that refuse an unsafe combination (a ``ConfigError`` that names the key
and the fix). How settings are read from files and the environment is :mod:`idgate.config.loading`.
"""

from __future__ import annotations

import re

import dataclasses
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from idgate.errors import ConfigError
from idgate.jose.algorithms import ASYMMETRIC_ALGS, DEFAULT_ALG, SYMMETRIC_ALGS

CONFIG_FILE = "config.toml"
KEK_FILE = "kek"
KEK_ENV = "IDGATE_KEK"
# RFC 9700 §2.2.1 / RFC 8725 §3.10: short-lived access tokens. A day is the hard ceiling: a
# longer-lived bearer token is a password that cannot be changed.
ACCESS_TTL_CEILING = 86_400
DEFAULT_ACCESS_TTL = 900
REFRESH_ABSOLUTE_CEILING = 365 * 86_400


class Secret(str):
    """A string whose repr and str-in-logs never show the value."""

    def __repr__(self) -> str:
        return "'**********'"


def _doc(text: str, default: Any = dataclasses.MISSING, **kw: Any) -> Any:
    if default is dataclasses.MISSING:
        return field(metadata={"doc": text}, **kw)
    return field(default=default, metadata={"doc": text}, **kw)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = _doc("Data folder: config, database, key-encryption key, TLS files.", Path(".idgate"))
    issuer: str = _doc("The issuer URL: `iss` of every token and base of discovery. Must be https "
                       "(http only for loopback with insecure_http).", "https://localhost:8443")
    database_url: str = _doc("SQLAlchemy URL. Default: SQLite (WAL) in the data folder; "
                             "postgresql://... for more than one node.", "")
    signing_alg: str = _doc("Signing algorithm for new keys: ES256 (default), ES384, EdDSA, RS256, PS256. "
                            "HS256 only with allow_hs256 for a single trusted service.", DEFAULT_ALG)
    allow_hs256: bool = _doc("Allow HS256: every verifier then holds the signing secret and can mint tokens. "
                             "Off by default.", False)
    access_token_ttl: int = _doc("Access-token lifetime in seconds (default 15 min, ceiling 24 h).", DEFAULT_ACCESS_TTL)
    refresh_idle_ttl: int = _doc("A refresh token unused for this long expires (seconds).", 14 * 86_400)
    refresh_absolute_ttl: int = _doc("A login's refresh tokens end this long after the login (seconds).", 30 * 86_400)
    audiences: tuple[str, ...] = _doc("Audiences (resource servers) tokens may be minted for. The issuer itself is "
                                      "always allowed (for userinfo).", ())
    default_audience: str = _doc("`aud` when the client names none. Default: the issuer.", "")
    profile_claims: tuple[str, ...] = _doc("User attributes copied into access tokens (email, name). Default none: "
                                           "access tokens are readable by anyone holding them, so personal data "
                                           "stays at /userinfo unless tokens are encrypted.", ())
    confidential_claims: tuple[str, ...] = _doc("Claims that may travel only in encrypted tokens (JWE): a token "
                                                "carrying one for an audience without an encryption key is refused.",
                                                ("email",))
    host: str = _doc("Address to bind.", "127.0.0.1")
    port: int = _doc("Port to bind.", 8443)
    tls_cert: str = _doc("TLS certificate (PEM). Default: DATA/tls/cert.pem.", "")
    tls_key: str = _doc("TLS private key (PEM). Default: DATA/tls/key.pem.", "")
    insecure_http: bool = _doc("Serve plain HTTP. Only on loopback, or behind a TLS-terminating proxy "
                               "(behind_proxy). Never for credentials from elsewhere.", False)
    behind_proxy: bool = _doc("Trust X-Forwarded-Proto/For from trusted_proxies (a TLS-terminating proxy).", False)
    trusted_proxies: tuple[str, ...] = _doc("Proxy addresses whose forwarded headers are believed.", ("127.0.0.1", "::1"))
    max_body_bytes: int = _doc("Largest request body accepted on credential endpoints (bytes).", 8192)
    hash_workers: int = _doc("Threads computing password hashes (default: CPU count + 1).", 0)
    hash_queue: int = _doc("Password checks allowed to wait for a thread before 429.", 256)
    jwks_max_age: int = _doc("Cache-Control max-age of the JWKS document (seconds).", 300)
    # --- Abuse resistance (issue 5): throttling, lockout, MFA. See idgate/throttle/__init__.py.
    redis_url: str = _doc("Redis URL (redis://host:6379/0) for the throttle counters, so limits hold across "
                          "several idgate processes or machines. Empty: an in-process store (one process only).", "")
    throttle_account_free: int = _doc("Failed logins per account before exponential back-off starts "
                                      "(429 + Retry-After). Counted per username, existing or not.", 5)
    throttle_ip_free: int = _doc("Failed logins per client IP before exponential back-off starts.", 20)
    throttle_token_free: int = _doc("Failed /token (refresh) requests per client IP before back-off.", 30)
    throttle_mfa_free: int = _doc("Failed one-time codes per account before back-off.", 5)
    throttle_base_delay: int = _doc("First back-off delay in seconds; it doubles with each further failure.", 1)
    throttle_max_delay: int = _doc("Longest back-off delay in seconds (the doubling stops here).", 900)
    throttle_window: int = _doc("A throttle counter is forgotten after this many seconds without a failure.", 86_400)
    throttle_lockout: int = _doc("Consecutive failures after which an account is locked until an admin unlocks it "
                                 "(`idgate user unlock NAME`). NIST SP 800-63B §5.2.2: at most 100.", 100)
    throttle_memory_entries: int = _doc("Most counters the in-process throttle store keeps (least recently used "
                                        "are dropped first), so memory stays bounded under a flood.", 100_000)
    device_token_ttl: int = _doc("Lifetime of the signed 'known device' token /login returns (seconds). A "
                                 "login that presents it is not slowed down by failures from elsewhere.", 90 * 86_400)
    require_mfa_roles: tuple[str, ...] = _doc("Roles whose members must use a second factor (TOTP). Roles can "
                                              "also be marked through the admin API.", ())
    mfa_issuer_label: str = _doc("Issuer label shown in authenticator apps for TOTP enrolments.", "idgate")
    passkey_aaguids: tuple[str, ...] = _doc("AAGUIDs (authenticator models) allowed to register passkeys, e.g. "
                                            "\"cb69481e-8ff7-4039-93ec-0a2729a154a8\". Empty (default): any. With "
                                            "a list, attestation 'direct' is requested.", ())
    # --- DPoP (RFC 9449, issue 20): sender-constrained tokens. See README "DPoP".
    dpop_nonce: bool = _doc("Require a server nonce in DPoP proofs sent to /token and /login (RFC 9449 §8): a "
                            "proof made in advance or copied from elsewhere is refused with use_dpop_nonce and "
                            "the client retries with the nonce from the DPoP-Nonce header.", True)
    dpop_nonce_lifetime: int = _doc("A DPoP nonce is valid for this long, then for one more period (seconds). "
                                    "Every node derives the same nonces from the key-encryption key.", 300)
    dpop_proof_max_age: int = _doc("Oldest DPoP proof accepted, by its iat (seconds); 5 s of clock skew are "
                                   "allowed the other way. Proof ids are remembered this long.", 60)
    dpop_bound_access_tokens_default: bool = _doc("New clients require DPoP (client metadata "
                                                  "dpop_bound_access_tokens, RFC 9449 §5.2) unless registered "
                                                  "otherwise.", False)
    # --- Back-channel logout (OIDC Back-Channel Logout 1.0, issue 14). See README.
    backchannel_logout_timeout: int = _doc("Seconds to wait for an app's back-channel logout endpoint.", 5)
    backchannel_logout_retry: int = _doc("Seconds before the first retry of a failed logout delivery; each "
                                         "next wait doubles (at most 10 minutes).", 10)
    backchannel_logout_attempts: int = _doc("Deliveries tried before a logout token is given up (and recorded "
                                            "as backchannel.failed).", 6)
    # --- Operations (issue 7): processes, metrics, logs. See README "Operations".
    workers: int = _doc("Server processes (`idgate serve --workers N`) sharing the listening socket and the "
                        "database. On SQLite (one machine) writes take turns; several machines need PostgreSQL.", 1)
    metrics_token: str = _doc("Bearer token that unlocks GET /metrics (Prometheus). Empty (default): /metrics "
                              "answers 404, so nothing about the server leaks. At least 32 characters; "
                              "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`.",
                              "")
    log_format: str = _doc("Log lines on stderr: auto (JSON, or human-readable when stderr is a terminal), "
                           "json or text.", "auto")

    @property
    def kek_path(self) -> Path:
        return self.data_dir / KEK_FILE

    @property
    def tls_cert_path(self) -> Path:
        return Path(self.tls_cert) if self.tls_cert else self.data_dir / "tls" / "cert.pem"

    @property
    def tls_key_path(self) -> Path:
        return Path(self.tls_key) if self.tls_key else self.data_dir / "tls" / "key.pem"

    @property
    def ca_path(self) -> Path:
        return self.data_dir / "tls" / "ca.pem"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'idgate.db').resolve()}"

    @property
    def token_audience(self) -> str:
        return self.default_audience or self.issuer

    @property
    def allowed_audiences(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.issuer, self.token_audience, *self.audiences)))

    def validate(self) -> Settings:
        _check_lifetimes(self)
        _check_alg(self)
        _check_issuer(self)
        if not 256 <= self.max_body_bytes <= 1_048_576:
            raise ConfigError(f"Config 'max_body_bytes' is {self.max_body_bytes}; use 256..1048576.")
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"Config 'port' is {self.port}; use 1..65535.")
        _check_throttle(self)
        _check_operations(self)
        if not 10 <= self.dpop_nonce_lifetime <= 86_400:
            raise ConfigError(f"Config 'dpop_nonce_lifetime' is {self.dpop_nonce_lifetime}; use 10..86400 seconds.")
        if not 5 <= self.dpop_proof_max_age <= 600:
            raise ConfigError(f"Config 'dpop_proof_max_age' is {self.dpop_proof_max_age}; use 5..600 seconds.")
        for name, low, high in (("backchannel_logout_timeout", 1, 30), ("backchannel_logout_retry", 1, 3600),
                                ("backchannel_logout_attempts", 1, 20)):
            if not low <= getattr(self, name) <= high:
                raise ConfigError(f"Config {name!r} is {getattr(self, name)}; use {low}..{high}.")
        for aaguid in self.passkey_aaguids:
            if not _AAGUID.fullmatch(aaguid):
                raise ConfigError(f"Config 'passkey_aaguids' has {aaguid!r}; an AAGUID looks like "
                                  "cb69481e-8ff7-4039-93ec-0a2729a154a8.")
        return self


_AAGUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _check_lifetimes(s: Settings) -> None:
    ttl = s.access_token_ttl
    if ttl <= 0:
        raise ConfigError(
            f"Config 'access_token_ttl' is {ttl}: tokens must expire. 'Unlimited' lifetimes are refused "
            f"because a stolen token would work forever; use at most {ACCESS_TTL_CEILING} (24 h), default "
            f"{DEFAULT_ACCESS_TTL}, and refresh tokens for long sessions."
        )
    if ttl > ACCESS_TTL_CEILING:
        raise ConfigError(
            f"Config 'access_token_ttl' is {ttl}; the ceiling is {ACCESS_TTL_CEILING} (24 h). Long-lived "
            f"bearer tokens cannot be taken back once leaked; use refresh tokens for long sessions."
        )
    if not 60 <= s.refresh_idle_ttl <= s.refresh_absolute_ttl <= REFRESH_ABSOLUTE_CEILING:
        raise ConfigError(
            "Config 'refresh_idle_ttl' and 'refresh_absolute_ttl' must satisfy "
            f"60 <= idle <= absolute <= {REFRESH_ABSOLUTE_CEILING} seconds."
        )


def _check_throttle(s: Settings) -> None:
    if not 1 <= s.throttle_lockout <= 100:
        raise ConfigError(f"Config 'throttle_lockout' is {s.throttle_lockout}; use 1..100 (NIST SP 800-63B "
                          "§5.2.2 allows at most 100 consecutive failures per account).")
    for key in ("throttle_account_free", "throttle_ip_free", "throttle_token_free", "throttle_mfa_free"):
        if not 0 <= getattr(s, key) <= 1_000_000:
            raise ConfigError(f"Config '{key}' is {getattr(s, key)}; use 0..1000000.")
    if not 1 <= s.throttle_base_delay <= s.throttle_max_delay <= 86_400:
        raise ConfigError("Config 'throttle_base_delay' and 'throttle_max_delay' must satisfy 1 <= base <= max <= 86400.")
    if not 60 <= s.throttle_window <= 30 * 86_400:
        raise ConfigError(f"Config 'throttle_window' is {s.throttle_window}; use 60..2592000 seconds.")
    if not 1_000 <= s.throttle_memory_entries <= 10_000_000:
        raise ConfigError(f"Config 'throttle_memory_entries' is {s.throttle_memory_entries}; use 1000..10000000.")
    if not 3600 <= s.device_token_ttl <= 400 * 86_400:
        raise ConfigError(f"Config 'device_token_ttl' is {s.device_token_ttl}; use 3600..34560000 seconds.")
    if s.redis_url and urlsplit(s.redis_url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("Config 'redis_url' must start with redis://, rediss:// or unix://.")


def _check_operations(s: Settings) -> None:
    if not 1 <= s.workers <= 64:
        raise ConfigError(f"Config 'workers' is {s.workers}; use 1..64 (about one per CPU core).")
    if s.metrics_token and (len(s.metrics_token) < 32 or not s.metrics_token.isascii()
                            or not s.metrics_token.isprintable() or " " in s.metrics_token):
        raise ConfigError("Config 'metrics_token' must be at least 32 printable ASCII characters without spaces; "
                          "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'.")
    if s.log_format not in ("auto", "json", "text"):
        raise ConfigError(f"Config 'log_format' is {s.log_format!r}; use auto, json or text.")


def _check_alg(s: Settings) -> None:
    if s.signing_alg in SYMMETRIC_ALGS and not s.allow_hs256:
        raise ConfigError(
            "Config 'signing_alg' is HS256 but 'allow_hs256' is off: with HS256 every service that "
            "verifies tokens can also forge them. Use ES256, or set allow_hs256 = true for a single trusted service."
        )
    if s.signing_alg not in ASYMMETRIC_ALGS + SYMMETRIC_ALGS:
        raise ConfigError(f"Config 'signing_alg' is {s.signing_alg!r}; choose one of {', '.join(ASYMMETRIC_ALGS)}.")


def _check_issuer(s: Settings) -> None:
    parts = urlsplit(s.issuer)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"Config 'issuer' is {s.issuer!r}; use an https URL with no query or fragment (RFC 8414 §2).")
    if parts.scheme == "http" and not (s.insecure_http and is_loopback_host(parts.hostname)):
        raise ConfigError(
            f"Config 'issuer' is {s.issuer!r}: plain http is allowed only on loopback with insecure_http; use https."
        )


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
