"""``PlainRoute``: a FastAPI route served by Starlette's plain request/response glue, and
``PlainRoutes``, with which the edge middleware hands requests for such routes straight to them.

FastAPI wraps every endpoint in its own handler: it solves the dependency graph, sets up
exit stacks for dependencies with ``yield``, parses and validates the body against the
signature, then serialises the return value. Endpoints that take the ``Request`` alone and
return a ``Response`` themselves (the token endpoint reads its form body with its own strict
parser) use none of it, yet paid for all of it: measured in-process, 67 -> 47 µs for a trivial
endpoint through the whole middleware stack, about a tenth of a client-credentials token.

A ``PlainRoute`` is still an ``APIRoute`` - matched, named and documented in ``/openapi.json``
exactly as before - but its ASGI app is Starlette's ``request_response(endpoint)``: build the
``Request``, await the endpoint, send its response. Exceptions still reach the application's
exception handlers. Only an endpoint of exactly one parameter, the request, may use it, and
that is checked when the route is built rather than discovered on the first request.

``EdgeMiddleware`` (server/middleware.py), once a request has passed its checks, sends a
request for a plain route to the route itself, past the layers that such a route does not use:
FastAPI's error, telemetry, body-limit, exception and exit-stack middlewares and the router's
walk (form limits, telemetry route selection, matching every route in turn). The route is still
matched by its own ``matches()``; its exceptions still reach the application's handlers (the
same ones ``ExceptionMiddleware`` uses) and anything unhandled gets the application's 500 reply
(as from ``ServerErrorMiddleware``) before going on to the server's error log.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Match, request_response
from starlette.responses import PlainTextResponse
from starlette.types import Message, Receive, Scope, Send


class PlainRoute(APIRoute):
    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        parameters = list(inspect.signature(endpoint).parameters.values())
        annotation = parameters[0].annotation if len(parameters) == 1 else None
        if annotation not in (Request, "Request") or self.dependencies:
            raise TypeError(f"{path}: a PlainRoute endpoint takes the Request alone and has no dependencies")
        self.app = request_response(endpoint)


def plain_router() -> APIRouter:
    """An ``APIRouter`` whose routes are :class:`PlainRoute` s."""
    return APIRouter(route_class=PlainRoute)


class PlainRoutes:
    """An application's plain routes by method and path (none has path parameters), with the
    exception handlers ``ExceptionMiddleware`` would use, for ``EdgeMiddleware`` to call them."""

    def __init__(self, application: Any) -> None:
        handlers = application.exception_handlers
        # As ExceptionMiddleware splits them: exception-class handlers and status-code handlers.
        self._handlers = ({k: v for k, v in handlers.items() if not isinstance(k, int) and k is not Exception},
                          {k: v for k, v in handlers.items() if isinstance(k, int) and k != 500})
        self._unexpected = handlers.get(Exception) or handlers.get(500)
        self._table: dict[tuple[str, str], PlainRoute] = {}
        for route in application.router.routes:
            if isinstance(route, PlainRoute) and not route.param_convertors:
                for method in route.methods or ():
                    self._table.setdefault((method, route.path), route)

    def match(self, scope: Scope) -> PlainRoute | None:
        """The plain route for this request (its scope filled in as the router would), or None."""
        route = self._table.get((scope["method"], scope["path"]))
        if route is None:
            return None
        match, child_scope = route.matches(scope)
        if match is not Match.FULL:
            return None
        scope.update(child_scope)
        scope["starlette.exception_handlers"] = self._handlers
        return route

    async def call(self, route: PlainRoute, scope: Scope, receive: Receive, send: Send) -> None:
        """What ``request_response(route.endpoint)`` does, without its two wrappers: the
        endpoint's response, or the application's handler's reply to what it raised."""
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint(request)
        except Exception as exc:
            handler = None
            if isinstance(exc, HTTPException):
                handler = self._handlers[1].get(exc.status_code)
            if handler is None:
                handler = next((self._handlers[0][c] for c in type(exc).__mro__ if c in self._handlers[0]), None)
            if handler is None:
                raise
            response = await handler(request, exc) if inspect.iscoroutinefunction(handler) else \
                await run_in_threadpool(handler, request, exc)
            exc.__traceback__ = None  # a reused exception instance must not pile up tracebacks
        await response(scope, receive, send)

    async def unexpected(self, scope: Scope, exc: Exception, send: Send) -> None:
        """The application's reply to an unhandled exception (a bare 500 without a handler)."""
        if self._unexpected is None:
            response: Any = PlainTextResponse("Internal Server Error", status_code=500)
        else:
            response = await self._unexpected(Request(scope), exc)
        await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
