"""``/account``: the signed-in user's page: change password, see and end sessions, sign out.

Every form carries the session's CSRF token. Changing the password needs the current one (a
stolen session alone cannot lock the owner out), ends every refresh token (services) and every
other browser session, and keeps this one. The page's two-step verification section posts to
the forms of :mod:`idgate.server.endpoints.account_mfa`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from idgate import clock
from idgate.errors import InvalidCredentials, InvalidRequest, TooManyRequests, WeakPassword
from idgate.mfa import service as mfa
from idgate.passkeys import service as passkeys
from idgate.provider import Provider
from idgate.server.deps import provider_of
from idgate.server.forms import read_params
from idgate.server.interactions import start_account_sign_in
from idgate.server.pages import Browser, CsrfError, check_csrf, clear_cookie, error_page, load_browser, render, run, \
    sign_out
from idgate.services import accounts
from idgate.services.interaction_flow import load_user
from idgate.services.clients.registry import get_client
from idgate.services.login import authenticate
from idgate.store import backchannel
from idgate.store import clients as repo
from idgate.store import tokens as token_rows
from idgate.store.db import transaction
from idgate.store.users import UserView

router = APIRouter(include_in_schema=False)


def _when(value: datetime) -> str:
    return value.strftime("%d %b %Y, %H:%M UTC").lstrip("0")


def describe_agent(agent: str | None) -> str:
    """A short human name for a User-Agent ("Firefox on Linux"); never trusted for anything."""
    ua = agent or ""
    name = next((n for token, n in (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
                                    ("Safari/", "Safari"), ("curl/", "curl"), ("python-httpx", "httpx"))
                 if token in ua), "Unknown browser")
    system = next((n for token, n in (("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iOS"),
                                      ("iPad", "iPadOS"), ("Mac OS X", "macOS"), ("Linux", "Linux"))
                   if token in ua), "")
    return f"{name} on {system}" if system else name


def _overview(provider: Provider, browser: Browser, user: UserView) -> dict[str, Any]:
    now = clock.utcnow()
    with transaction(provider.sessions) as session:
        browsers = [{"id": b.sid, "agent": describe_agent(b.user_agent), "ip": b.ip, "created": _when(b.created_at),
                     "current": b.id_hash == browser.id_hash} for b in repo.browser_sessions_of(session, user.id, now)]
        apps = []
        for s in repo.active_login_sessions(session, user.id, now):
            client = get_client(session, s.client_id)
            name = client.name if client else ("idgate sign-in" if s.client_id.startswith("idgate") else s.client_id)
            apps.append({"id": s.id, "name": name, "created": _when(s.created_at)})
    return {"browsers": browsers, "apps": apps}


async def account_page(provider: Provider, browser: Browser, user: UserView, *, notice: str | None = None,
                       error: str | None = None, mfa_error: str | None = None, mfa_form: str | None = None,
                       passkey_error: str | None = None, passkey_notice: str | None = None,
                       status: int = 200) -> Response:
    """The account page. ``mfa_error`` is shown in the two-step verification section, against
    the code field of ``mfa_form`` ("remove" or "regenerate") when given; ``passkey_*`` in
    the passkeys section."""
    overview = await run(_overview, provider, browser, user)
    state = await run(mfa.status, provider, user.id)
    keys = [{"info": p, "created": _when(p.created_at), "used": _when(p.last_used_at) if p.last_used_at else None}
            for p in await run(passkeys.list_of, provider, user.id)]
    return render("account.html", status=status, browser=browser, title="Your account", user=user, notice=notice,
                  error=error, mfa=state, mfa_error=mfa_error, mfa_form=mfa_form, passkeys=keys,
                  passkey_error=passkey_error, passkey_notice=passkey_notice, script=True, **overview)


async def signed_in(request: Request) -> tuple[Provider, Browser | None, UserView | None]:
    provider = provider_of(request)
    browser = await run(load_browser, provider, request)
    user = await run(load_user, provider, browser.user_id) if browser else None
    return provider, browser, user


@router.get("/account")
async def account(request: Request) -> Response:
    provider, browser, user = await signed_in(request)
    if browser is None or user is None:
        return await run(start_account_sign_in, provider, request)
    return await account_page(provider, browser, user)


async def _posted(request: Request) -> tuple[Provider, Browser, UserView, dict[str, str]] | Response:
    """A signed-in user's form with a valid CSRF token, or the page to answer with instead."""
    provider, browser, user = await signed_in(request)
    try:
        params = await read_params(request, provider.settings.max_body_bytes, allow_json=False)
        check_csrf(browser, params.get("csrf_token"))
    except (CsrfError, InvalidRequest) as exc:
        return error_page(exc, browser=browser)
    if browser is None or user is None:
        return RedirectResponse("/account", status_code=303)
    return provider, browser, user, params


FormHandler = Callable[[Provider, Browser, UserView, dict[str, str]], Awaitable[Response]]


def account_form(handler: FormHandler) -> Callable[[Request], Awaitable[Response]]:
    """An account-page POST: the handler runs only for a signed-in user whose form carries a
    valid CSRF token (see :func:`_posted`), and gets ``(provider, browser, user, params)``.
    The endpoint FastAPI sees takes only the request (no ``functools.wraps``: FastAPI would
    read the handler's parameters as query parameters)."""

    async def endpoint(request: Request) -> Response:
        posted = await _posted(request)
        if isinstance(posted, Response):
            return posted
        return await handler(*posted)

    endpoint.__name__, endpoint.__doc__ = handler.__name__, handler.__doc__
    return endpoint


@router.post("/account/password")
@account_form
async def change_password(provider: Provider, browser: Browser, user: UserView, params: dict[str, str]) -> Response:
    current = params.get("current_password") or ""
    new = params.get("new_password") or ""
    if not current or not new:
        return await account_page(provider, browser, user, error="Enter your current password and a new one.",
                                  status=400)
    if new != params.get("confirm_password"):
        return await account_page(provider, browser, user, error="The two new passwords are not the same.", status=400)
    try:
        # Re-checking the password of a signed-in user: the second factor was given at sign-in.
        await authenticate(provider, user.username, current, second_factor=False)
    except InvalidCredentials:
        return await account_page(provider, browser, user, error="Your current password is not correct.", status=400)
    except TooManyRequests:
        return await account_page(provider, browser, user, error="Too many attempts. Wait a moment, then try again.",
                                  status=429)
    try:
        await run(accounts.set_password, provider.sessions, user.username, new)
    except WeakPassword as exc:
        return await account_page(provider, browser, user, error=exc.description, status=400)
    await run(_end_other_browsers, provider, user.id, browser.id_hash)
    return await account_page(provider, browser, user, notice="Your password was changed. Other browsers and apps "
                                                               "were signed out.")


def _end_other_browsers(provider: Provider, user_id: str, keep_hash: str) -> None:
    with transaction(provider.sessions) as session:
        repo.delete_other_browser_sessions(session, user_id, keep_hash)


def _end(provider: Provider, user: UserView, kind: str, ident: str) -> bool:
    with transaction(provider.sessions) as session:
        if kind == "browser":
            return repo.delete_browser_session_by_sid(session, user.id, ident)
        if kind == "app":
            row = token_rows.get_session(session, ident)
            if row is None or row.user_id != user.id:
                return False
            token_rows.end_session(session, ident, clock.utcnow())
            backchannel.queue_for_login_session(session, ident)
            return True
    return False


@router.post("/account/sessions/end")
@account_form
async def end_session(provider: Provider, browser: Browser, user: UserView, params: dict[str, str]) -> Response:
    ended = await run(_end, provider, user, params.get("kind", ""), params.get("id", ""))
    return await account_page(provider, browser, user, notice="Session ended." if ended else None,
                              error=None if ended else "That session had already ended.")


@router.post("/account/logout")
async def logout(request: Request) -> Response:
    provider, browser, _user = await signed_in(request)
    try:
        params = await read_params(request, provider.settings.max_body_bytes, allow_json=False)
        check_csrf(browser, params.get("csrf_token"))
    except (CsrfError, InvalidRequest) as exc:
        return error_page(exc, browser=browser)
    if browser is not None:
        await run(sign_out, provider, browser)
    return clear_cookie(render("message.html", title="Signed out", message="You are signed out of idgate."))
