"""Redirect URIs: which may be registered, and whether a request's matches a registered one.

Redirect URIs are matched exactly, character for character (RFC 9700 §4.1.3): no wildcards,
no prefix or "same host" matching, so there is no open redirect to find. The one exception is
RFC 8252 §7.3: for an ``http`` redirect URI registered on a loopback IP literal (127.0.0.0/8 or
``[::1]``, never the name ``localhost``) the request may name any port; everything else in the
URI must still be the registered text exactly (``redirect_uri_registered``).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from idgate.config.schema import is_loopback_host
from idgate.errors import InvalidRequest
from idgate.services.clients.view import ClientView

_PRIVATE_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+$")  # reverse-DNS, RFC 8252 §7.1
_PORT = re.compile(r"[1-9][0-9]{0,4}")  # a request's loopback port: decimal, no sign, no leading zero
_FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "blob", "about", "ftp", "ws", "wss"})
MAX_URI_LENGTH = 2000


def check_redirect_uri(uri: str, what: str = "redirect URI") -> str:
    """https anywhere; http only on loopback (RFC 8252 §7.3); private-use reverse-DNS schemes for
    native apps (§7.1). Never a fragment, a wildcard, user info or a dangerous scheme."""
    if not isinstance(uri, str) or not uri or len(uri) > MAX_URI_LENGTH or uri != uri.strip():
        raise InvalidRequest(f"Invalid {what}.")
    if "*" in uri or "#" in uri or any(ord(c) < 0x21 or ord(c) > 0x7E for c in uri):
        raise InvalidRequest(f"The {what} {uri!r} must be an exact absolute URI with no wildcard or fragment.")
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in _FORBIDDEN_SCHEMES or not scheme:
        raise InvalidRequest(f"The {what} {uri!r} uses a forbidden scheme.")
    if parts.username or parts.password:
        raise InvalidRequest(f"The {what} {uri!r} must not contain user information.")
    if scheme == "https":
        if not parts.hostname:
            raise InvalidRequest(f"The {what} {uri!r} has no host.")
    elif scheme == "http":
        if not parts.hostname or not is_loopback_host(parts.hostname):
            raise InvalidRequest(f"The {what} {uri!r} is plain http; only loopback addresses may use http.")
    elif not _PRIVATE_SCHEME.fullmatch(scheme):
        raise InvalidRequest(f"The {what} {uri!r} must be https, http on loopback, or a reverse-DNS app scheme.")
    return uri


def _loopback_parts(registered: str) -> tuple[str, str] | None:
    """For ``http://<loopback IP literal>[:port]<rest>``: the text before the port
    (``http://127.0.0.1``) and the text after it (path and query), else None.

    Only IP literals (RFC 8252 §7.3, §8.3): ``localhost`` can be resolved to something else
    and keeps exact matching, as do https and every other scheme."""
    if not registered.startswith("http://"):
        return None
    netloc = urlsplit(registered).netloc
    if not netloc or "@" in netloc or registered[7:7 + len(netloc)] != netloc:
        return None
    if netloc.startswith("["):
        host, sep, port = netloc.partition("]")
        host += sep
        if port and not port.startswith(":"):
            return None
    else:
        host, _, port = netloc.partition(":")
    try:
        address = ipaddress.ip_address(host[1:-1] if host.startswith("[") else host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address != ipaddress.IPv6Address("::1"):  # not ::ffff:127.0.0.1 and friends
            return None
    elif not address.is_loopback:
        return None
    return "http://" + host, registered[7 + len(netloc):]


def redirect_uri_matches(registered: str, requested: str) -> bool:
    """RFC 9700 §4.1.3 exact match, except RFC 8252 §7.3: a loopback IP redirect URI matches with
    any port (or none). The comparison is on the text, not on a parse of the requested URI, so
    user info, a fragment, an extra path or a different host can never slip through."""
    if requested == registered:
        return True
    parts = _loopback_parts(registered)
    if parts is None:
        return False
    head, rest = parts
    if not requested.startswith(head):
        return False
    tail = requested[len(head):]
    if tail == rest:
        return True
    if not tail.startswith(":") or not tail.endswith(rest):
        return False
    port = tail[1:len(tail) - len(rest)]
    return bool(_PORT.fullmatch(port)) and int(port) <= 65535


def redirect_uri_registered(client: ClientView, requested: str) -> bool:
    """Whether ``requested`` may be redirected to for ``client`` (see ``redirect_uri_matches``)."""
    return bool(requested) and any(redirect_uri_matches(r, requested) for r in client.redirect_uris)
