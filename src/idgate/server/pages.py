"""Server-rendered pages: Jinja2 (autoescaped), browser sessions, CSRF tokens, page CSP.

* The session cookie ``__Host-idgate_session`` is ``Secure; HttpOnly; SameSite=Lax; Path=/``
  with no ``Domain`` (the ``__Host-`` prefix makes browsers enforce all of that). It holds only
  a random 256-bit id; the database keeps its SHA-256. A new id is issued at sign-in, so an id
  planted before sign-in (session fixation) is worthless after it.
* CSRF: a synchronizer token, random per session, in a hidden field of every form and compared
  in constant time on every POST. SameSite=Lax is a second layer, not the only one.
* Pages load one stylesheet from ``/static`` and no scripts (the form_post page loads one
  script file); their CSP is ``default-src 'none'; style-src 'self'`` with
  ``frame-ancestors 'none'`` and ``form-action`` limited to idgate and, where the page's form
  leads to a client, that client's redirect URI origin.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from idgate import clock, ids
from idgate.errors import IdgateError
from idgate.provider import Provider
from idgate.store import backchannel
from idgate.store import clients as repo
from idgate.store.db import transaction
from idgate.store.models_oauth import BrowserSession

COOKIE = "__Host-idgate_session"
ANONYMOUS_TTL = timedelta(minutes=30)  # a browser that has not signed in yet
SESSION_IDLE = timedelta(hours=2)
SESSION_ABSOLUTE = timedelta(hours=12)
HERE = Path(__file__).parent
STATIC = {"idgate.css": "text/css; charset=utf-8", "form_post.js": "text/javascript; charset=utf-8",
          "favicon.svg": "image/svg+xml", "docs-init.js": "text/javascript; charset=utf-8",
          "passkey.js": "text/javascript; charset=utf-8"}

_env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)
router = APIRouter(include_in_schema=False)


class CsrfError(IdgateError):
    error = "invalid_request"
    status_code = 403
    description = "This form has expired or did not come from this site. Go back, reload the page and try again."


@dataclass(frozen=True)
class Browser:
    """The browser's session as a page handler sees it."""

    id_hash: str
    sid: str
    csrf_token: str
    user_id: str | None
    auth_time: int | None
    amr: str
    cookie: str | None = None  # set when the response must (re)issue the cookie

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None


def _snapshot(row: BrowserSession, cookie: str | None = None) -> Browser:
    return Browser(id_hash=row.id_hash, sid=row.sid, csrf_token=row.csrf_token, user_id=row.user_id,
                   auth_time=row.auth_time, amr=row.amr, cookie=cookie)


def _client_info(request: Request) -> tuple[str | None, str | None]:
    agent = (request.headers.get("user-agent") or "")[:256] or None
    return agent, request.client.host if request.client else None


def load_browser(provider: Provider, request: Request) -> Browser | None:
    """The live session named by the cookie, or None. Touches last_seen (idle timeout)."""
    cookie = request.cookies.get(COOKIE)
    if not cookie or len(cookie) > 128:
        return None
    now = clock.utcnow()
    with transaction(provider.sessions) as session:
        row = repo.find_browser_session(session, ids.token_hash(cookie))
        if row is None:
            return None
        idle = SESSION_IDLE if row.user_id else ANONYMOUS_TTL
        if now >= row.expires_at or now >= row.last_seen_at + idle:
            repo.delete_browser_session(session, row.id_hash)
            return None
        if now - row.last_seen_at > timedelta(minutes=1):
            row.last_seen_at = now
        return _snapshot(row)


def new_browser(provider: Provider, request: Request, *, user_id: str | None = None, auth_time: int | None = None,
                amr: str = "pwd") -> Browser:
    cookie = secrets.token_urlsafe(32)
    now = clock.utcnow()
    agent, ip = _client_info(request)
    row = BrowserSession(id_hash=ids.token_hash(cookie), sid=secrets.token_urlsafe(16),
                         csrf_token=secrets.token_urlsafe(32), user_id=user_id, auth_time=auth_time, amr=amr,
                         user_agent=agent, ip=ip, created_at=now, last_seen_at=now,
                         expires_at=now + (SESSION_ABSOLUTE if user_id else ANONYMOUS_TTL))
    with transaction(provider.sessions) as session:
        repo.add_browser_session(session, row)
        if secrets.randbelow(32) == 0:
            repo.purge_browser_sessions(session, now)
    return _snapshot(row, cookie)


def ensure_browser(provider: Provider, request: Request) -> Browser:
    return load_browser(provider, request) or new_browser(provider, request)


def sign_in(provider: Provider, request: Request, old: Browser, user_id: str, auth_time: int, amr: str) -> Browser:
    """Regenerate the session at sign-in: a new cookie value, id and CSRF token; the old row goes,
    and interactions waiting on it move to the new one."""
    fresh = new_browser(provider, request, user_id=user_id, auth_time=auth_time, amr=amr)
    with transaction(provider.sessions) as session:
        repo.move_interactions(session, old.id_hash, fresh.id_hash)
        repo.delete_browser_session(session, old.id_hash)
    return fresh


def sign_out(provider: Provider, browser: Browser) -> None:
    """End this browser's idgate session; the apps it signed in to are told (back-channel logout)."""
    with transaction(provider.sessions) as session:
        backchannel.queue_for_browser_sessions(session, [browser.sid])
        repo.delete_browser_session(session, browser.id_hash)


def check_csrf(browser: Browser | None, presented: str | None) -> None:
    if browser is None or not presented or not hmac.compare_digest(presented.encode(), browser.csrf_token.encode()):
        raise CsrfError(detail="csrf token missing or wrong")


def set_cookie(response: Response, browser: Browser | None) -> Response:
    if browser is not None and browser.cookie is not None:
        # No Max-Age: the cookie ends with the browser; the server ends the session sooner.
        response.set_cookie(COOKIE, browser.cookie, path="/", secure=True, httponly=True, samesite="lax")
    return response


def clear_cookie(response: Response) -> Response:
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="lax")
    return response


def origin_of(uri: str) -> str | None:
    """A CSP source for a redirect URI: scheme://host[:port], or 'scheme:' for app schemes."""
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    if parts.scheme:
        return f"{parts.scheme}:"
    return None


def page_csp(form_targets: tuple[str, ...] = (), *, script: bool = False) -> str:
    sources = " ".join(["'self'", *(o for o in (origin_of(t) for t in form_targets) if o)])
    return ("default-src 'none'; style-src 'self'; img-src 'self'; "
            + ("script-src 'self'; connect-src 'self'; " if script else "")
            + f"form-action {sources}; frame-ancestors 'none'; base-uri 'none'")


def render(template: str, *, status: int = 200, browser: Browser | None = None, form_targets: tuple[str, ...] = (),
           script: bool = False, **context: Any) -> HTMLResponse:
    html = _env.get_template(template).render(csrf_token=browser.csrf_token if browser else "", **context)
    response = HTMLResponse(html, status_code=status, headers={
        "Content-Security-Policy": page_csp(form_targets, script=script),
        "Cache-Control": "no-store", "Pragma": "no-cache",
    })
    return set_cookie(response, browser)


def error_page(exc: IdgateError, *, browser: Browser | None = None, title: str = "Something went wrong") -> HTMLResponse:
    return render("error.html", status=exc.status_code if exc.status_code >= 400 else 400, browser=browser,
                  title=title, message=exc.description)


async def run(func: Any, *args: Any) -> Any:
    return await anyio.to_thread.run_sync(func, *args)


@router.get("/static/{name}")
async def static(name: str) -> Response:
    media_type = STATIC.get(name)
    if media_type is None:
        return Response("not found", status_code=404, media_type="text/plain")
    body = (HERE / "static" / name).read_bytes()
    return Response(body, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"})


def without_cookie(browser: Browser | None) -> Browser | None:
    return replace(browser, cookie=None) if browser else None
