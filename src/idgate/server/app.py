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
from idgate.server.endpoints import discovery, health, jwks, login, revocation, token, userinfo
from idgate.server.middleware import InputLimitsMiddleware, RequestContextMiddleware, TransportMiddleware


def build_verifier(provider: Provider) -> Verifier:
    """The server checks bearer tokens exactly as a service would, against its own key ring."""
    settings = provider.settings
    from idgate.services.grants import is_revoked

    return Verifier(issuer=settings.issuer, audience=settings.allowed_audiences,
                    jwks=lambda: provider.keyring().public_jwks(), max_lifetime=ACCESS_TTL_CEILING,
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
    # Added last = outermost.
    app.add_middleware(InputLimitsMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(TransportMiddleware, behind_proxy=settings.behind_proxy,
                       trusted_proxies=settings.trusted_proxies)
    app.add_middleware(RequestContextMiddleware, hsts=True)
    return app
