"""Known-device tokens (OWASP "device cookies"): a login that succeeded once from a device
gets a signed token; presenting it later exempts that login from the account's and the IP's
back-off and from the lockout, so an attacker elsewhere cannot lock the owner out. The device
has its own small failure budget: after ``DEVICE_MAX_FAILURES`` wrong passwords in a row the
token is no longer honoured and the login is treated like any other.

Format: ``igd_`` + base64url(JSON {"u": normalised username, "d": random id, "exp": unix time})
+ ``.`` + base64url(HMAC-SHA256). The HMAC key is derived (HKDF-SHA256) from the provider's
key-encryption key, so tokens cannot be forged from a database dump, and they are stateless:
nothing to store, nothing to leak. A token proves only "this device logged in before"; it
never replaces the password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "igd_"
MAX_LENGTH = 512
DEVICE_MAX_FAILURES = 10


@lru_cache(maxsize=8)
def _mac_key(kek: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"idgate device token v1").derive(kek)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(kek: bytes, account: str, *, now: int, ttl: int) -> str:
    payload = _b64(json.dumps({"u": account, "d": secrets.token_urlsafe(12), "exp": now + ttl},
                              separators=(",", ":")).encode())
    mac = hmac.new(_mac_key(kek), payload.encode(), hashlib.sha256).digest()
    return f"{PREFIX}{payload}.{_b64(mac)}"


def verify(kek: bytes, token: str | None, account: str, *, now: int) -> str | None:
    """The device id if ``token`` is a valid, unexpired device token of ``account``; else None."""
    if not token or len(token) > MAX_LENGTH or not token.startswith(PREFIX) or token.count(".") != 1:
        return None
    payload, mac = token[len(PREFIX):].split(".")
    try:
        expected = hmac.new(_mac_key(kek), payload.encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac)):
            return None
        claims = json.loads(_unb64(payload))
    except (ValueError, UnicodeError):
        return None
    if not isinstance(claims, dict) or claims.get("u") != account:
        return None
    exp, device = claims.get("exp"), claims.get("d")
    if not isinstance(exp, int) or exp <= now or not isinstance(device, str):
        return None
    return device
