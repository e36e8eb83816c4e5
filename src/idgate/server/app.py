"""``create_app(provider)``: the ASGI application, its routes and its protections."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp

from idgate import __version__
from idgate.provider import Provider
from idgate.server import errors
from idgate.server import pages
from idgate.server.endpoints import account, account_mfa, admin_clients, authorize, discovery, end_session, \
    health, home, interaction, interaction_mfa, introspection, jwks, login, revocation, token, userinfo
from idgate.server.middleware import EdgeMiddleware
from idgate.services.access_verifier import build_verifier


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    """Add ``router``'s routes to the application itself rather than ``include_router`` it.

    The routers here carry no prefix, dependency or setting of their own beyond what their
    routes already hold (path, tags, responses), so the result is the same routes. But FastAPI
    (0.16x) matches an included router as a nested branch, re-walking every router's route list
    several times per request. Measured in-process here: /healthz 94 -> 74 µs per request and
    the client-credentials token request 230 -> 194 µs once the routes sit on the application.
    """
    app.router.routes.extend(router.routes)


class IdgateApp(FastAPI):
    """FastAPI with :class:`EdgeMiddleware` around its whole stack (not inside its error
    middleware, where ``add_middleware`` puts user middleware): every reply - a 500 from
    FastAPI's error middleware included - leaves through the edge and gets its headers, and a
    plain route (the token endpoint) is called from the edge without FastAPI's layers."""

    edge_options: dict[str, Any]

    def build_middleware_stack(self) -> ASGIApp:
        return EdgeMiddleware(super().build_middleware_stack(), **self.edge_options)


def create_app(provider: Provider) -> FastAPI:
    settings = provider.settings

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        provider.keyring()  # fail at start-up, not on the first request, if keys cannot be read
        # Everything loaded so far (modules, routes, the ORM's mappers) lives as long as the
        # process: move it out of the collector's reach. Measured here, a full collection of
        # those ~150,000 objects paused the event loop for 80-105 ms, which was the whole p99
        # of the token endpoint; after freezing, a collection only walks recent garbage.
        gc.collect()
        gc.freeze()
        # A hashing thread needs the GIL for a moment before and after each argon2 call; with
        # the default 5 ms switch interval it waited up to that long behind the event loop while
        # a core sat idle. 1 ms: +7.5% logins/s under a storm (in-process, 16 concurrent).
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
        # Back-channel logout: deliver queued logout tokens in the background (issue 14).
        from idgate.services.backchannel_logout import run_outbox

        outbox = asyncio.get_running_loop().create_task(run_outbox(provider), name="backchannel-logout")
        try:
            yield
        finally:
            outbox.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await outbox
            provider.close()

    # idgate's own observability is /metrics and JSON logs. FastAPI's OpenTelemetry bridge is
    # off: even with no OpenTelemetry configured it asked the OpenTelemetry API for its three
    # providers on every request, reading the environment each time (~4 µs of a ~130 µs token).
    app = IdgateApp(title="idgate", version=__version__, docs_url=None, redoc_url=None,
                    openapi_url="/openapi.json", lifespan=lifespan,
                    telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.provider = provider
    # Key lookups are counted in /metrics (app.state.metrics is installed below, before any request).
    app.state.verifier = build_verifier(
        provider, on_jwks_lookup=lambda result: app.state.metrics.jwks_lookups.labels(result).inc())
    errors.install(app)
    from idgate.server.endpoints import account_passkeys, admin_audiences, admin_events, admin_passkeys, admin_roles, \
        admin_exchange, admin_sessions, admin_users, device, interaction_passkey, mfa

    # The busiest endpoints first: a request is matched against the routes in this order.
    for module in (token, jwks, userinfo, introspection, login, revocation, discovery, health,
                   authorize, interaction, interaction_mfa, end_session,
                   account, account_mfa, admin_clients, pages,  # issue 4: third-party apps
                   admin_users, admin_roles, admin_sessions, admin_events, mfa,  # issue 5: admin API, 2FA self-service
                   admin_audiences,  # issue 3: encryption keys of resource servers
                   home,  # issue 16: the landing page and /docs
                   interaction_passkey, account_passkeys, admin_passkeys,  # issue 13: passkeys
                   device, admin_exchange):  # issue 14: the device flow (RFC 8628), token exchange (RFC 8693)
        _add_routes(app, module.router)
    from idgate.server.schemas import install_openapi  # error replies documented on every operation

    install_openapi(app)
    from idgate.server import metrics  # issue 7: /metrics (token-gated) and request metrics

    app.edge_options = {"behind_proxy": settings.behind_proxy, "trusted_proxies": settings.trusted_proxies,
                        "max_body_bytes": settings.max_body_bytes, "metrics": metrics.install(app, provider)}
    return app
