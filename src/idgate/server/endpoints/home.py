"""``GET /``: a small landing page (issuer, discovery, account, docs); ``GET /docs``: the OpenAPI
documentation in Swagger UI, its assets served from the ``swagger-ui-bundle-v2`` package (no CDN),
under a Content-Security-Policy that allows this origin only."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from idgate.server.deps import provider_of
from idgate.server.pages import render

router = APIRouter(include_in_schema=False)

# The Swagger UI files /docs needs, and their media types; nothing else of the bundle is served.
DOCS_ASSETS = {"swagger-ui.css": "text/css; charset=utf-8",
               "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
               "favicon-32x32.png": "image/png"}
# Swagger UI sets inline style attributes and shows data: images (its icons); it fetches
# /openapi.json from this origin. Scripts: this origin's files only, no inline script, no eval.
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="referrer" content="no-referrer">
  <title>API documentation · idgate</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" href="/docs/assets/favicon-32x32.png" type="image/png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/static/docs-init.js"></script>
</body>
</html>
"""


@lru_cache(maxsize=1)
def swagger_ui_folder() -> Path:
    """The folder of the installed Swagger UI (imported on first use: the server does not load
    the documentation's package until someone opens /docs)."""
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


@router.get("/")
async def home(request: Request) -> HTMLResponse:
    return render("home.html", title="Identity provider", issuer=provider_of(request).settings.issuer)


@router.get("/docs")
async def docs() -> HTMLResponse:
    return HTMLResponse(DOCS_PAGE, headers={"Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-cache"})


@router.get("/docs/assets/{name}")
async def docs_asset(name: str) -> Response:
    media_type = DOCS_ASSETS.get(name)  # an allow-list: no path from the request reaches the file system
    if media_type is None:
        return Response("not found", status_code=404, media_type="text/plain")
    body = (swagger_ui_folder() / name).read_bytes()
    return Response(body, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})
