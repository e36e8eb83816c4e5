"""FastAPI dependency: a valid access token carrying a scope (RFC 6750 §3.1, RFC 9068 §2.2.3).

    from fastapi import Depends
    from idgate.rs import require_scope

    @app.get("/things")
    def things(claims: dict = Depends(require_scope("things:read"))): ...

Behind :class:`~idgate.rs.BearerAuthMiddleware` it reuses the claims the middleware verified;
on its own it verifies the Authorization header itself, with ``verifier`` or else
``request.app.state.idgate_verifier``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException, Request

from idgate.errors import ConfigError, OAuthError
from idgate.rs.asgi import CLAIMS_KEY, MISSING_TOKEN
from idgate.rs.bearer import bearer_token, challenge
from idgate.rs.verifier import Verifier

REALM = "idgate"


def require_scope(scope: str, verifier: Verifier | None = None) -> Callable[[Request], Awaitable[dict[str, Any]]]:
    if not scope or " " in scope:
        raise ConfigError(f"require_scope needs one scope token, got {scope!r}.")

    async def dependency(request: Request) -> dict[str, Any]:
        claims = request.scope.get(CLAIMS_KEY)
        if claims is None:
            claims = _verify_request(request, verifier)
        # RFC 6750 §3.1 insufficient_scope: 403, naming the scope needed.
        if scope not in str(claims.get("scope", "")).split():
            raise _refusal(403, "insufficient_scope", "The access token does not carry the required scope.", scope)
        return claims

    return dependency


def _verify_request(request: Request, verifier: Verifier | None) -> dict[str, Any]:
    verifier = verifier or getattr(request.app.state, "idgate_verifier", None)
    if verifier is None:
        raise ConfigError("require_scope has no Verifier: pass verifier= or set app.state.idgate_verifier.")
    try:
        token = bearer_token(request.scope.get("headers", ()), request.scope.get("query_string", b""))
        if token is None:
            raise HTTPException(
                401,
                detail={"error": "invalid_token", "error_description": MISSING_TOKEN},
                headers={"WWW-Authenticate": challenge(REALM)},
            )
        return verifier.verify(token)
    except OAuthError as exc:
        raise _refusal(exc.status_code, exc.error, exc.description) from None


def _refusal(status: int, error: str, description: str, scope: str | None = None) -> HTTPException:
    return HTTPException(
        status,
        detail={"error": error, "error_description": description},
        headers={"WWW-Authenticate": challenge(REALM, error, description, scope), "Cache-Control": "no-store"},
    )
