"""``EdgeMiddleware``: the protections every request and response gets, in one pure ASGI layer.

It is the outermost layer of the application (``IdgateApp.build_middleware_stack``). In order:

1. **Request id**: a well-formed ``X-Request-ID`` or a new one, bound for every log line.
2. **Transport**: the real client address and scheme (``X-Forwarded-*`` believed only from a
   trusted proxy); credentials over plain HTTP from anywhere but loopback are refused (403).
3. **Input limits**: header count, a NUL in the URL, credentials in the query string (refused:
   they would end up in logs and browser history), the declared and the actual body size.
4. **Event context**: client address and request id bound for security events.
5. The route. A plain route (``server/routing.py``: the token endpoint) is called from here
   directly, with the application's exception handlers; everything else goes through
   FastAPI's stack (error middleware, router).

On the way out every response gets the security headers, ``Cache-Control: no-store`` unless
it set its own, and the request id; the request is counted in the metrics by route template
and logged in one access line without the query string.

These were five middlewares inside FastAPI's three, each wrapping the next (and ``send``) and
walking the headers on its own; one layer outside them makes the same checks in one pass, and a
plain route (the token endpoint) skips FastAPI's layers altogether (README, "Benchmarks").
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
from idgate.server.forms import is_content_length
from idgate.server.routing import PlainRoutes
from idgate.events import bind_request, unbind_request

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


_OURS = frozenset(h[0] for h in SECURITY_HEADERS) | {HSTS[0], b"x-request-id", b"server"}
_CSP = b"content-security-policy"
_DEFAULT_HEADERS = (*SECURITY_HEADERS, HSTS)
_NO_CSP_HEADERS = (*(h for h in SECURITY_HEADERS if h[0] != _CSP), HSTS)


def with_security_headers(headers: Iterable[tuple[bytes, bytes]], request_id: str) -> list[tuple[bytes, bytes]]:
    """A response's headers with ours added (one pass).

    An HTML page sets its own Content-Security-Policy (style-src 'self', form-action to a
    client's redirect URI...): keep it; every other response gets the default. Our other
    security headers replace any the app set; ``Cache-Control: no-store`` unless the app chose.
    """
    out: list[tuple[bytes, bytes]] = []
    own_csp = None
    has_cache_control = False
    for header in headers:
        name = header[0].lower()
        if name == _CSP:
            own_csp = own_csp or header
        elif name not in _OURS:
            has_cache_control = has_cache_control or name == b"cache-control"
            out.append(header)
    if own_csp is None:
        out += _DEFAULT_HEADERS
    else:
        out += _NO_CSP_HEADERS
        out.append(own_csp)
    if not has_cache_control:
        out.append((b"cache-control", b"no-store"))
    out.append((b"x-request-id", request_id.encode()))
    return out


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, *, behind_proxy: bool, trusted_proxies: Iterable[str], max_body_bytes: int,
                 metrics: Any = None) -> None:
        self.app = app
        self.behind_proxy = behind_proxy
        self.trusted = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
        self.max_body = max_body_bytes
        self.metrics = metrics
        self._plain: PlainRoutes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = _header(scope, b"x-request-id")
        request_id = supplied if supplied and _REQUEST_ID.fullmatch(supplied) else _new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        bound = request_id_var.set(request_id)  # every log line of this request carries it
        started = time.perf_counter()
        response = _Response()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                response.status = message["status"]
                message = {**message, "headers": with_security_headers(message.get("headers", ()), request_id)}
            await send(message)

        try:
            if self.behind_proxy:
                self._forwarded(scope)
            refusal = self._refusal(scope)
            if refusal is not None:
                await send_error(send_with_headers, refusal)
                return
            client: Any = scope.get("client")
            event_context = bind_request(client[0] if client else None, request_id)
            try:
                await self._route(scope, self._limited(receive), send_with_headers, response)
            finally:
                unbind_request(event_context)
        finally:
            elapsed = time.perf_counter() - started
            if self.metrics is not None:
                self.metrics.observe_request(scope, response.status or 500, elapsed)
            # The path only: query strings are never logged, whatever they hold.
            log.info(JsonLine(event="http_request", request_id=request_id, method=scope["method"],
                              path=scope["path"], status=response.status or 500, client=_client(scope),
                              ms=round(elapsed * 1000, 1)))
            request_id_var.reset(bound)

    async def _route(self, scope: Scope, receive: Receive, send: Send, response: _Response) -> None:
        if self._plain is None:
            self._plain = PlainRoutes(scope["app"])
        route = self._plain.match(scope)
        if route is None:
            await self.app(scope, receive, send)
            return
        try:
            await self._plain.call(route, scope, receive, send)
        except Exception as exc:
            # What ServerErrorMiddleware does for the other routes: the application's 500 reply,
            # if nothing was sent yet, then the exception goes on to the server's error log.
            if response.status is None:
                await self._plain.unexpected(scope, exc, send)
            raise

    def _forwarded(self, scope: Scope) -> None:
        """Forwarded headers are believed only from a trusted proxy; from anyone else they are
        ignored, so a client cannot claim to be another address or to have used TLS."""
        if not self._is_trusted(_client(scope)):
            return
        proto = (_header(scope, b"x-forwarded-proto") or "").split(",")[0].strip().lower()
        if proto in ("http", "https"):
            scope["scheme"] = proto
        client = self._forwarded_client(scope)
        if client is not None:
            scope["client"] = (client, 0)

    def _refusal(self, scope: Scope) -> IdgateError | None:
        if scope["scheme"] == "http" and _carries_credentials(scope) and not _is_loopback(_client(scope)):
            return InsecureTransport()
        if len(scope["headers"]) > MAX_HEADERS:
            return InvalidRequest(f"Too many header fields (limit {MAX_HEADERS}).", detail="headers")
        query = scope.get("query_string", b"")
        if "\x00" in scope["path"] or b"%00" in query:
            # No text column (PostgreSQL's least of all) takes a NUL, and no honest client sends one.
            return InvalidRequest("The URL contains a NUL character.", detail="nul")
        if _query_has_credentials(query):
            return InvalidRequest("Credentials must never be sent in the URL; send them in a POST body over HTTPS.")
        declared = _header(scope, b"content-length")
        if declared is not None and is_content_length(declared) and int(declared) > self.max_body:
            return PayloadTooLarge()
        return None

    def _limited(self, receive: Receive) -> Receive:
        received = 0
        limit = self.max_body

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge()
            return message

        return limited_receive

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


class _Response:
    __slots__ = ("status",)

    def __init__(self) -> None:
        self.status: int | None = None


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
