"""Pure ASGI middleware: the protections every response and request gets.

Order (outermost first): RequestContext (request id, access log without query strings,
security headers) -> Transport (real client address, plain-HTTP credential refusal) ->
InputLimits (header count, body size, credentials in the URL).
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import logging
import os
import re
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from idgate.errors import IdgateError, InsecureTransport, InvalidRequest, PayloadTooLarge
from idgate.ops.logs import JsonLine, request_id_var
from idgate.server.errors import error_body

log = logging.getLogger("idgate.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# A request id names a request in the logs; it is no secret and needs no unpredictability, only
# uniqueness: a random per-process prefix and a counter (32 hex characters, like a UUID's),
# instead of reading the OS's random source for every request.
_REQUEST_PREFIX = os.urandom(8).hex()
_request_counter = itertools.count()


def _new_request_id() -> str:
    return f"{_REQUEST_PREFIX}{next(_request_counter):016x}"
# Parameter names that carry a secret. In a URL they end up in logs, proxies, Referer headers
# and browser history, so they are refused outright (RFC 6749 §3.2 / RFC 6750 §2.3 / §5.3).
CREDENTIAL_QUERY_PARAMS = frozenset({
    "password", "passwd", "pwd", "pass", "new_password", "client_secret", "access_token", "refresh_token",
    "id_token", "token", "code_verifier", "assertion", "client_assertion", "otp", "totp", "secret", "device_token",
})
MAX_HEADERS = 64

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy",
     b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


async def send_error(send: Send, exc: IdgateError) -> None:
    body = json.dumps(error_body(exc)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in exc.headers().items()] if hasattr(exc, "headers") else []
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app, self.hsts = app, hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = _header(scope, b"x-request-id")
        request_id = supplied if supplied and _REQUEST_ID.fullmatch(supplied) else _new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        bound = request_id_var.set(request_id)  # every log line of this request carries it
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # An HTML page sets its own Content-Security-Policy (style-src 'self', form-action
                # to a client's redirect URI...): keep it; every other response gets the default.
                own_csp = [h for h in message.get("headers", []) if h[0].lower() == _CSP]
                headers = [h for h in message.get("headers", []) if h[0].lower() not in _OURS]
                headers += [h for h in SECURITY_HEADERS if not (own_csp and h[0] == _CSP)] + own_csp[:1]
                if self.hsts:
                    headers.append(HSTS)
                if not any(h[0].lower() == b"cache-control" for h in headers):
                    headers.append((b"cache-control", b"no-store"))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            # The path only: query strings are never logged, whatever they hold.
            log.info(JsonLine(event="http_request", request_id=request_id, method=scope["method"],
                              path=scope["path"], status=status, client=_client(scope),
                              ms=round((time.perf_counter() - started) * 1000, 1)))
            request_id_var.reset(bound)


_OURS = frozenset(h[0] for h in SECURITY_HEADERS) | {HSTS[0], b"x-request-id", b"server"}
_CSP = b"content-security-policy"


class TransportMiddleware:
    """Finds the real client and scheme, and refuses credentials sent over plain HTTP.

    Forwarded headers are believed only from a trusted proxy; from anyone else they are
    ignored, so a client cannot claim to be another address or to have used TLS.
    """

    def __init__(self, app: ASGIApp, *, behind_proxy: bool, trusted_proxies: Iterable[str]) -> None:
        self.app = app
        self.behind_proxy = behind_proxy
        self.trusted = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        peer = _client(scope)
        if self.behind_proxy and self._is_trusted(peer):
            proto = (_header(scope, b"x-forwarded-proto") or "").split(",")[0].strip().lower()
            if proto in ("http", "https"):
                scope["scheme"] = proto
            client = self._forwarded_client(scope)
            if client is not None:
                scope["client"] = (client, 0)
        if scope["scheme"] == "http" and _carries_credentials(scope) and not _is_loopback(_client(scope)):
            await send_error(send, InsecureTransport())
            return
        await self.app(scope, receive, send)

    def _is_trusted(self, addr: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(addr or "")
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)

    def _forwarded_client(self, scope: Scope) -> str | None:
        """The right-most X-Forwarded-For hop that is not a trusted proxy."""
        hops = [h.strip() for h in (_header(scope, b"x-forwarded-for") or "").split(",") if h.strip()]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return None
        return None


class InputLimitsMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app, self.max_body = app, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope["headers"]) > MAX_HEADERS:
            await send_error(send, InvalidRequest(f"Too many header fields (limit {MAX_HEADERS}).", detail="headers"))
            return
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            # No text column (PostgreSQL's least of all) takes a NUL, and no honest client sends one.
            await send_error(send, InvalidRequest("The URL contains a NUL character.", detail="nul"))
            return
        if _query_has_credentials(scope.get("query_string", b"")):
            await send_error(send, InvalidRequest(
                "Credentials must never be sent in the URL; send them in a POST body over HTTPS."))
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await send_error(send, PayloadTooLarge())
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise PayloadTooLarge()
            return message

        await self.app(scope, limited_receive, send)


def _query_has_credentials(query: bytes) -> bool:
    if not query:
        return False
    try:
        names = {k.lower() for k, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True)}
    except ValueError:
        return False
    return bool(names & CREDENTIAL_QUERY_PARAMS)


def _carries_credentials(scope: Scope) -> bool:
    return scope["method"] not in ("GET", "HEAD", "OPTIONS") or _header(scope, b"authorization") is not None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _client(scope: Scope) -> str | None:
    client: Any = scope.get("client")
    return client[0] if client else None


def _is_loopback(addr: str | None) -> bool:
    try:
        return ipaddress.ip_address(addr or "").is_loopback
    except ValueError:
        return False
