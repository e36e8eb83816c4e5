"""FastAPI dependency: a valid access token carrying a scope (RFC 6750 §3.1, RFC 9068 §2.2.3),
sent as ``Bearer`` or, when the verifier checks DPoP, as ``DPoP`` with its proof (RFC 9449 §7).

    from fastapi import Depends
    from idgate.rs import require_scope

    @app.get("/things")
    def things(claims: dict = Depends(require_scope("things:read"))): ...

Behind :class:`~idgate.rs.BearerAuthMiddleware` it reuses what the middleware verified; on its
own it verifies the request itself, with ``verifier`` or else ``request.app.state.idgate_verifier``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException, Request

from idgate.errors import ConfigError
from idgate.rs.asgi import AUTH_KEY, CLAIMS_KEY
from idgate.rs.request import Authenticated, Refused, authenticate_scope, has_scope, insufficient_scope
from idgate.rs.verifier import Verifier


def require_scope(scope: str, verifier: Verifier | None = None) -> Callable[[Request], Awaitable[dict[str, Any]]]:
    if not scope or " " in scope:
        raise ConfigError(f"require_scope needs one scope token, got {scope!r}.")

    async def dependency(request: Request) -> dict[str, Any]:
        chosen = verifier or getattr(request.app.state, "idgate_verifier", None)
        auth = request.scope.get(AUTH_KEY)
        if not isinstance(auth, Authenticated):
            if chosen is None:
                raise ConfigError("require_scope has no Verifier: pass verifier= or set app.state.idgate_verifier.")
            try:
                auth = authenticate_scope(chosen, request.scope)
            except Refused as refused:
                raise as_http_exception(refused) from None
            request.scope[CLAIMS_KEY] = auth.claims
            request.scope[AUTH_KEY] = auth
        if not has_scope(auth.claims, scope):
            raise as_http_exception(insufficient_scope(chosen, auth, scope))
        return auth.claims

    return dependency


def as_http_exception(refused: Refused) -> HTTPException:
    return HTTPException(refused.status_code, detail=refused.body(), headers=refused.headers())
