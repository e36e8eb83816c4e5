"""Liveness and readiness."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from idgate.server.deps import provider_of

router = APIRouter()


@router.get("/healthz", summary="Liveness")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz", summary="Readiness: database (and Redis, when configured) reachable, keys loaded")
async def readyz(request: Request) -> JSONResponse:
    provider = provider_of(request)

    def check() -> None:
        with provider.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        provider.keyring()
        if provider.settings.redis_url:  # shared throttle counters: not ready without them
            from idgate.throttle import check_redis

            check_redis(provider.settings)

    try:
        await anyio.to_thread.run_sync(check)
    except Exception:
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ready"})
