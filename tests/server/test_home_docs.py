"""Issue 16: `/` is a small landing page and `/docs` the OpenAPI documentation, its Swagger UI
served from a Python package under a CSP that allows this origin only (no CDN) - checked over
real HTTPS and in a real browser (Debian chromium), where the page must render with no CSP
violation."""

from __future__ import annotations

import re

import pytest

from support import LiveServer



def test_landing_page_names_the_issuer_and_links_the_way_on(live_server: LiveServer) -> None:
    with live_server.client() as http:
        reply = http.get("/")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/html")
    body = reply.text
    assert live_server.url.rstrip("/") in body
    for link in ("/account", "/.well-known/openid-configuration", "/jwks.json", "/docs"):
        assert f'href="{link}"' in body
    assert "script-src" not in reply.headers["content-security-policy"]  # the landing page runs no script


def test_docs_page_and_assets_come_from_this_origin(live_server: LiveServer) -> None:
    with live_server.client() as http:
        page = http.get("/docs")
        assert page.status_code == 200
        csp = page.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "'unsafe-eval'" not in csp and "http" not in csp
        scripts = re.findall(r'<script src="([^"]+)"', page.text)
        assert scripts == ["/docs/assets/swagger-ui-bundle.js", "/static/docs-init.js"]
        assert "<script>" not in page.text  # no inline script
        for path, kind in [("/docs/assets/swagger-ui-bundle.js", "text/javascript"),
                           ("/docs/assets/swagger-ui.css", "text/css"), ("/static/docs-init.js", "text/javascript")]:
            asset = http.get(path)
            assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind), path
            assert len(asset.content) > 0
        assert http.get("/docs/assets/index.html").status_code == 404  # only the allow-listed files
        assert http.get("/docs/assets/..%2F..%2F__init__.py").status_code == 404
        assert http.get("/openapi.json").json()["info"]["title"] == "idgate"


@pytest.mark.browser
@pytest.mark.slow
def test_docs_render_in_a_real_browser_without_csp_violations(chromium, live_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    context = chromium.new_context(ignore_https_errors=True)
    try:
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.goto(live_server.url + "/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
        assert "idgate" in page.inner_text(".swagger-ui .info .title")
        page.wait_for_selector(".opblock-summary-path", timeout=20_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert any("/token" in path for path in paths)
        page.goto(live_server.url + "/")
        assert page.get_by_role("link", name="API documentation").count() == 1
        assert problems == []
    finally:
        context.close()
