"""Looking inside a JWT without trusting it: decoding, claims in human terms, red flags.

Shared by ``idgate inspect`` and the audit's token checks. Nothing here verifies a
signature; it only reads what anyone holding the token can read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from idgate.audit.model import Verdict

# Claims that identify a person directly (OpenID Connect Core §5.1). A JWS payload is only
# base64-encoded: anyone who sees the token (logs, browser storage, proxies) can read them.
PERSONAL_CLAIMS = ("email", "phone_number", "phone", "address", "name", "given_name", "family_name",
                   "middle_name", "birthdate", "gender")
HMAC_ALGS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")
DAY = 86_400
HOUR = 3_600

# Secrets seen in tutorials, library READMEs and framework defaults. If a token's HMAC key
# is one of these, anyone can mint tokens.
BUILTIN_SECRETS = (
    "", "secret", "Secret", "SECRET", "password", "changeme", "change-me", "changeit", "your-256-bit-secret",
    "your-secret-key", "your_secret_key", "secretkey", "secret-key", "secret_key", "jwt-secret", "jwt_secret",
    "jwtsecret", "mysecret", "my-secret", "my_secret", "supersecret", "super-secret", "topsecret", "key",
    "private", "test", "testing", "development", "dev", "admin", "default", "123456", "12345678", "qwerty",
    "shhhhh", "keyboard cat", "s3cr3t", "secret123", "token", "jwt", "auth", "hmac", "abc123",
)


@dataclass(frozen=True)
class DecodedToken:
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def alg(self) -> str:
        value = self.header.get("alg")
        return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class TokenFlag:
    verdict: Verdict
    code: str
    message: str


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    if any(c in segment for c in "+/= \t\r\n"):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise ValueError(f"the {what} is not JSON") from None
    if not isinstance(value, dict):
        raise ValueError(f"the {what} is not a JSON object")
    return value


def decode_unverified(token: str) -> DecodedToken:
    """Split and decode a compact JWS; raises ValueError with a plain-language reason."""
    token = token.strip()
    parts = token.split(".")
    if len(parts) == 5:
        raise ValueError("this is an encrypted token (JWE): its contents cannot be read without the key")
    if len(parts) != 3:
        raise ValueError(f"a JWT has three parts separated by dots; this has {len(parts)}")
    try:
        header_raw, payload_raw, signature = (b64url_decode(p) for p in parts)
    except ValueError:
        raise ValueError("a part of the token is not base64url text") from None
    header = _json_object(header_raw, "header")
    claims = _json_object(payload_raw, "payload")
    return DecodedToken(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def is_jwt(token: str) -> bool:
    try:
        decode_unverified(token)
    except ValueError:
        return False
    return True


def number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def human_duration(seconds: float) -> str:
    """12 minutes, 3 days, 1 year: the largest whole unit (seconds under a minute)."""
    seconds = abs(seconds)
    for size, unit in ((365 * DAY, "year"), (DAY, "day"), (HOUR, "hour"), (60, "minute")):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    count = int(seconds)
    return f"{count} second{'s' if count != 1 else ''}"


def describe_expiry(claims: dict[str, Any], now: float | None = None) -> str:
    now = time.time() if now is None else now
    exp = number(claims, "exp")
    if exp is None:
        return "never expires (no exp claim)"
    if exp > now:
        return f"expires in {human_duration(exp - now)}"
    return f"expired {human_duration(now - exp)} ago"


def describe_time(value: float, now: float | None = None) -> str:
    now = time.time() if now is None else now
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(value))
    when = f"in {human_duration(value - now)}" if value > now else f"{human_duration(now - value)} ago"
    return f"{stamp} ({when})"


def lifetime(claims: dict[str, Any]) -> float | None:
    """exp - iat, or None when either is missing."""
    exp, iat = number(claims, "exp"), number(claims, "iat")
    return None if exp is None or iat is None else exp - iat


def personal_claims(claims: dict[str, Any]) -> list[str]:
    return [name for name in PERSONAL_CLAIMS if claims.get(name) not in (None, "", [], {})]


def flag_token(token: DecodedToken, now: float | None = None) -> list[TokenFlag]:
    """Red flags readable from the token alone (RFC 8725, RFC 9068)."""
    now = time.time() if now is None else now
    header, claims, alg = token.header, token.claims, token.alg
    flags: list[TokenFlag] = []

    def add(verdict: Verdict, code: str, message: str) -> None:
        flags.append(TokenFlag(verdict, code, message))

    if alg.lower() == "none" or not alg:
        add(Verdict.FAIL, "alg-none", "alg is 'none': the token is not signed at all, so anyone can write one. "
            "A verifier must refuse it.")
    elif alg in HMAC_ALGS:
        add(Verdict.WARN, "alg-hmac", f"alg is {alg}, a shared secret: every service that can check this token "
            "can also create one. Prefer ES256 (a private key only the issuer holds).")
    else:
        add(Verdict.PASS, "alg", f"alg is {alg}: signed with a private key, checked with the public key.")
    for member in ("jwk", "jku", "x5u", "x5c"):
        if member in header:
            add(Verdict.WARN, f"header-{member}", f"the header carries '{member}', a key chosen by the token "
                "itself; verifiers must ignore it and use the issuer's keys.")
    exp = number(claims, "exp")
    if exp is None:
        add(Verdict.FAIL, "no-exp", "no exp claim: the token never expires, so a stolen copy works forever.")
    else:
        span = lifetime(claims)
        if span is not None and span > DAY:
            add(Verdict.FAIL, "long-lifetime", f"lifetime is {human_duration(span)} (more than a day): a stolen "
                "token stays useful that long. Use minutes, with refresh tokens for long sessions.")
        elif span is not None and span > HOUR:
            add(Verdict.WARN, "lifetime", f"lifetime is {human_duration(span)}; under an hour (15 minutes is "
                "common) limits what a stolen token can do.")
        else:
            add(Verdict.PASS, "lifetime", f"{describe_expiry(claims, now)}"
                + (f"; lifetime {human_duration(span)}" if span is not None else ""))
    for name, why in (("iss", "who issued it"), ("aud", "which service it is for")):
        if claims.get(name) in (None, "", []):
            add(Verdict.FAIL, f"no-{name}", f"no {name} claim: a verifier cannot check {why}, so a token meant for "
                "one service could be replayed at another.")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
        add(Verdict.WARN, "typ", f"typ is {typ!r}, not 'at+jwt' (RFC 9068): explicit typing stops an ID token "
            "or another kind of JWT from being accepted as an access token.")
    personal = personal_claims(claims)
    if personal:
        add(Verdict.WARN, "personal-data", f"personal data readable by anyone holding the token: "
            f"{', '.join(personal)}. A JWS is signed, not encrypted; leave these out or use JWE.")
    return flags


def guess_hmac_secret(token: DecodedToken, candidates: Iterable[str]) -> str | None:
    """The candidate that reproduces an HS* signature, or None."""
    digest = HMAC_ALGS.get(token.alg)
    if digest is None:
        return None
    for candidate in candidates:
        mac = hmac.new(candidate.encode(), token.signing_input, digest).digest()
        if hmac.compare_digest(mac, token.signature):
            return candidate
    return None
