"""``PlainRoute``: a FastAPI route served by Starlette's plain request/response glue.

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
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.routing import request_response


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
