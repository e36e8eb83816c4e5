"""Pure ASGI middleware that requires a valid access token: ``Bearer`` (RFC 6750) or, when the
verifier has a DPoP proof checker, ``DPoP`` with its proof (RFC 9449 §7).

Verification takes about a hundred microseconds of CPU, so it runs inline rather than in a
thread. The verified claims are put in ``scope["idgate.claims"]`` and the whole
:class:`~idgate.rs.request.Authenticated` in ``scope["idgate.auth"]`` for the app (and for
:func:`idgate.rs.fastapi.require_scope`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from idgate.rs.request import MISSING_TOKEN, REALM, Refused, authenticate_scope
from idgate.rs.verifier import Verifier

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CLAIMS_KEY = "idgate.claims"
AUTH_KEY = "idgate.auth"


class BearerAuthMiddleware:
    def __init__(self, app: ASGIApp, verifier: Verifier, exempt_paths: Iterable[str] = (), realm: str = REALM) -> None:
        self.app = app
        self.verifier = verifier
        self.exempt_paths = frozenset(exempt_paths)
        self.realm = realm

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        try:
            auth = authenticate_scope(self.verifier, scope, realm=self.realm)
        except Refused as refused:
            await send_refusal(scope, send, refused)
            return
        scope[CLAIMS_KEY] = auth.claims
        scope[AUTH_KEY] = auth
        await self.app(scope, receive, send)


async def send_refusal(scope: Scope, send: Send, refused: Refused) -> None:
    if scope["type"] == "websocket":
        # Closing before accept makes the server answer the handshake with 403.
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps(refused.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store")]
    # One WWW-Authenticate field per scheme offered (RFC 9110 §11.6.1).
    headers += [(b"www-authenticate", value.encode("latin-1")) for value in refused.challenges()]
    headers += [(name.lower().encode(), value.encode("latin-1")) for name, value in refused.headers().items()
                if name.lower() not in ("www-authenticate", "cache-control")]
    await send({"type": "http.response.start", "status": refused.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


__all__ = ["AUTH_KEY", "BearerAuthMiddleware", "CLAIMS_KEY", "MISSING_TOKEN", "send_refusal"]
