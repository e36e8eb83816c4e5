"""``create_app(provider)``: the ASGI application, its routes and its protections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from idgate import __version__
from idgate.config import ACCESS_TTL_CEILING
from idgate.provider import Provider
from idgate.rs import Verifier
from idgate.server import errors
from idgate.server import pages
from idgate.server.endpoints import account, admin_clients, authorize, discovery, end_session, health, \
    introspection, jwks, login, revocation, token, userinfo
from idgate.server.middleware import InputLimitsMiddleware, RequestContextMiddleware, TransportMiddleware


def build_verifier(provider: Provider) -> Verifier:
    """The server checks bearer tokens exactly as a service would, against its own key ring."""
    settings = provider.settings
    from idgate.services.grants import is_revoked

    return Verifier(issuer=settings.issuer, audience=settings.allowed_audiences,
                    jwks=lambda: provider.keyring().public_jwks(), max_lifetime=ACCESS_TTL_CEILING,
                    # The key ring is in-process and cheap to read: no refetch throttle needed.
                    min_refetch_interval=0.0,
                    deny_list=lambda jti: is_revoked(provider, jti))


def create_app(provider: Provider) -> FastAPI:
    settings = provider.settings

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        provider.keyring()  # fail at start-up, not on the first request, if keys cannot be read
        yield
        provider.close()

    app = FastAPI(title="idgate", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json", lifespan=lifespan)
    app.state.provider = provider
    app.state.verifier = build_verifier(provider)
    errors.install(app)
    for module in (login, token, revocation, discovery, jwks, userinfo, health):
        app.include_router(module.router)
    # Issue 4: third-party apps (authorization code + OIDC), their pages and the client registry.
    for module in (authorize, introspection, end_session, account, admin_clients, pages):
        app.include_router(module.router)
    from idgate.server.endpoints import admin, mfa  # issue 5: admin API, second-factor self-service

    app.include_router(admin.router)
    app.include_router(mfa.router)
    from idgate.server.endpoints import admin_audiences  # issue 3: encryption keys of resource servers

    app.include_router(admin_audiences.router)
    from idgate.server.schemas import install_openapi  # error replies documented on every operation

    install_openapi(app)
    # Added last = outermost. EventContext (innermost) binds client IP + request id for events.
    from idgate.server.context import EventContextMiddleware

    app.add_middleware(EventContextMiddleware)
    app.add_middleware(InputLimitsMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(TransportMiddleware, behind_proxy=settings.behind_proxy,
                       trusted_proxies=settings.trusted_proxies)
    from idgate.server import metrics  # issue 7: /metrics (token-gated) and request metrics

    metrics.install(app, provider)
    app.add_middleware(RequestContextMiddleware, hsts=True)
    return app
