"""Bearer token extraction and challenges (RFC 6750 §2.1 and §3).

Only the Authorization request header is accepted (§2.1). A token in the query string
(§2.3) is refused with ``invalid_request`` rather than ignored: it has already leaked into
logs and browser history, and the client should learn that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl

from idgate.errors import InvalidRequest, InvalidToken

# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# RFC 6750 §3: error_description and scope are limited to %x20-21 / %x23-5B / %x5D-7E.
_UNSAFE = re.compile(r'[^\x20-\x21\x23-\x5b\x5d-\x7e]')
# Auth schemes are case-insensitive (RFC 9110 §11.1).
_SCHEMES = {"bearer": "Bearer", "dpop": "DPoP"}


def bearer_token(headers: Iterable[tuple[bytes, bytes]], query_string: bytes = b"") -> str | None:
    """The bearer token, None if the request carries none; raises InvalidRequest/InvalidToken."""
    found = access_token(headers, query_string)
    return found[1] if found is not None and found[0] == "Bearer" else None


def access_token(headers: Iterable[tuple[bytes, bytes]], query_string: bytes = b"") -> tuple[str, str] | None:
    """``("Bearer" | "DPoP", token)`` from the Authorization header (RFC 6750 §2.1, RFC 9449
    §7.1), None when it carries neither scheme; raises InvalidRequest/InvalidToken."""
    if any(name == "access_token" for name, _ in parse_qsl(query_string.decode("latin-1"))):
        raise InvalidRequest("Send the access token in the Authorization header, never in the URL.")
    values = [v for k, v in headers if k.lower() == b"authorization"]
    if len(values) > 1:
        raise InvalidRequest("More than one Authorization header.")
    if not values:
        return None
    scheme, _, credentials = values[0].decode("latin-1").strip().partition(" ")
    name = _SCHEMES.get(scheme.lower())
    if name is None:
        return None  # another scheme (Basic...): no access token at all
    credentials = credentials.lstrip(" ")
    if not _B64TOKEN.fullmatch(credentials):
        raise InvalidToken("malformed")
    return name, credentials


def challenge(
    realm: str, error: str | None = None, description: str | None = None, scope: str | None = None,
    *, scheme: str = "Bearer", algs: str | None = None,
) -> str:
    """A ``WWW-Authenticate`` value for ``scheme`` (``Bearer``, RFC 6750 §3, or ``DPoP``, RFC 9449
    §7.1 with its ``algs``); without ``error`` when no token was sent (§3.1)."""
    params = [("realm", realm)]
    if error:
        params.append(("error", error))
    if description:
        params.append(("error_description", description))
    if scope:
        params.append(("scope", scope))
    if algs:
        params.append(("algs", algs))
    return scheme + " " + ", ".join(f'{name}="{_UNSAFE.sub("", value)}"' for name, value in params)
