"""Binds the client address and request id of each request for security events.

Innermost middleware: by then ``TransportMiddleware`` has replaced the peer address with the
real client (X-Forwarded-For believed only from trusted proxies) and ``RequestContextMiddleware``
has chosen the request id. The values travel in a context variable, so service functions
(and the worker threads anyio starts for them) record them without being handed a request.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from idgate.services.events import bind_request, unbind_request


class EventContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client: Any = scope.get("client")
        request_id = scope.get("state", {}).get("request_id")
        token = bind_request(client[0] if client else None, request_id)
        try:
            await self.app(scope, receive, send)
        finally:
            unbind_request(token)
