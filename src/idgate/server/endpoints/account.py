"""``/account``: the signed-in user's page: change password, two-step verification (TOTP), see
and end sessions, sign out.

Every form carries the session's CSRF token. Changing the password needs the current one (a
stolen session alone cannot lock the owner out), ends every refresh token (services) and every
other browser session, and keeps this one.

Two-step verification (the rules are :mod:`idgate.mfa.service`'s, as for the ``/mfa`` API):

* ``POST /account/mfa/totp`` starts an enrolment, then ``GET /account/mfa/totp`` shows it: the QR
  code (``GET /account/mfa/qr.svg``, an image of the session user's pending enrolment, never
  cached) and the key in groups for typing; the secret never goes into a URL.
* ``POST /account/mfa/totp/confirm`` activates it with a first code (MFA throttle) and shows the
  ten recovery codes once.
* ``POST /account/mfa/totp/remove`` and ``POST /account/mfa/recovery-codes`` need a current code
  or a recovery code; removal is refused while a role of the user requires a second factor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from idgate import clock
from idgate.errors import Conflict, IdgateError, InvalidCredentials, InvalidRequest, TooManyRequests, WeakPassword
from idgate.mfa import InvalidOtp
from idgate.mfa import service as mfa
from idgate.provider import Provider
from idgate.server.deps import provider_of
from idgate.server.forms import read_params
from idgate.server.interactions import start_account_sign_in
from idgate.server.pages import Browser, CsrfError, check_csrf, clear_cookie, error_page, load_browser, render, run, \
    sign_out
from idgate.services import accounts
from idgate.services.authorize import load_user
from idgate.services.clients.registry import get_client
from idgate.services.login import authenticate
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


async def _page(provider: Provider, browser: Browser, user: UserView, *, notice: str | None = None,
                error: str | None = None, mfa_error: str | None = None, mfa_form: str | None = None,
                status: int = 200) -> Response:
    """The account page. ``mfa_error`` is shown in the two-step verification section, against
    the code field of ``mfa_form`` ("remove" or "regenerate") when given."""
    overview = await run(_overview, provider, browser, user)
    state = await run(mfa.status, provider, user.id)
    return render("account.html", status=status, browser=browser, title="Your account", user=user, notice=notice,
                  error=error, mfa=state, mfa_error=mfa_error, mfa_form=mfa_form, **overview)


async def _signed_in(request: Request) -> tuple[Provider, Browser | None, UserView | None]:
    provider = provider_of(request)
    browser = await run(load_browser, provider, request)
    user = await run(load_user, provider, browser.user_id) if browser else None
    return provider, browser, user


@router.get("/account")
async def account(request: Request) -> Response:
    provider, browser, user = await _signed_in(request)
    if browser is None or user is None:
        return await run(start_account_sign_in, provider, request)
    return await _page(provider, browser, user)


async def _posted(request: Request) -> tuple[Provider, Browser, UserView, dict[str, str]] | Response:
    """A signed-in user's form with a valid CSRF token, or the page to answer with instead."""
    provider, browser, user = await _signed_in(request)
    try:
        params = await read_params(request, provider.settings.max_body_bytes, allow_json=False)
        check_csrf(browser, params.get("csrf_token"))
    except (CsrfError, InvalidRequest) as exc:
        return error_page(exc, browser=browser)
    if browser is None or user is None:
        return RedirectResponse("/account", status_code=303)
    return provider, browser, user, params


FormHandler = Callable[[Provider, Browser, UserView, dict[str, str]], Awaitable[Response]]


def _account_form(handler: FormHandler) -> Callable[[Request], Awaitable[Response]]:
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
@_account_form
async def change_password(provider: Provider, browser: Browser, user: UserView, params: dict[str, str]) -> Response:
    current = params.get("current_password") or ""
    new = params.get("new_password") or ""
    if not current or not new:
        return await _page(provider, browser, user, error="Enter your current password and a new one.", status=400)
    if new != params.get("confirm_password"):
        return await _page(provider, browser, user, error="The two new passwords are not the same.", status=400)
    try:
        # Re-checking the password of a signed-in user: the second factor was given at sign-in.
        await authenticate(provider, user.username, current, second_factor=False)
    except InvalidCredentials:
        return await _page(provider, browser, user, error="Your current password is not correct.", status=400)
    except TooManyRequests:
        return await _page(provider, browser, user, error="Too many attempts. Wait a moment, then try again.",
                           status=429)
    try:
        await run(accounts.set_password, provider.sessions, user.username, new)
    except WeakPassword as exc:
        return await _page(provider, browser, user, error=exc.description, status=400)
    await run(_end_other_browsers, provider, user.id, browser.id_hash)
    return await _page(provider, browser, user, notice="Your password was changed. Other browsers and apps "
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
            return True
    return False


@router.post("/account/sessions/end")
@_account_form
async def end_session(provider: Provider, browser: Browser, user: UserView, params: dict[str, str]) -> Response:
    ended = await run(_end, provider, user, params.get("kind", ""), params.get("id", ""))
    return await _page(provider, browser, user, notice="Session ended." if ended else None,
                       error=None if ended else "That session had already ended.")


@router.post("/account/logout")
async def logout(request: Request) -> Response:
    provider, browser, _user = await _signed_in(request)
    try:
        params = await read_params(request, provider.settings.max_body_bytes, allow_json=False)
        check_csrf(browser, params.get("csrf_token"))
    except (CsrfError, InvalidRequest) as exc:
        return error_page(exc, browser=browser)
    if browser is not None:
        await run(sign_out, provider, browser)
    return clear_cookie(render("message.html", title="Signed out", message="You are signed out of idgate."))


# Two-step verification -----------------------------------------------------------------------

_WRONG_CODE = "That code is not right. Enter the current 6-digit code from your app."
_TOO_MANY = "Too many attempts. Wait a moment, then try again."


def _grouped(secret: str) -> str:
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def _code_of(params: dict[str, str]) -> str:
    return (params.get("otp") or "").replace(" ", "").strip()[:64]


def _refusal(exc: IdgateError) -> tuple[str, int]:
    """What to tell the user when a one-time code was not accepted."""
    if isinstance(exc, InvalidOtp):
        return _WRONG_CODE, 400
    if isinstance(exc, TooManyRequests):
        return _TOO_MANY, 429
    return exc.description, exc.status_code  # a locked account, a role that requires MFA: their own words


def _with_retry_after(response: Response, exc: IdgateError) -> Response:
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _enrolment_page(provider: Provider, browser: Browser, user: UserView, *, error: str | None = None,
                          status: int = 200) -> Response:
    enrolment = await run(mfa.pending_enrolment, provider, user.id)
    if enrolment is None:
        return await _page(provider, browser, user, status=400 if error else 200,
                           mfa_error=error or "There is no set-up in progress: start again.")
    return render("mfa_enrol.html", status=status, browser=browser, title="Set up two-step verification",
                  username=user.username, key=_grouped(enrolment.secret), issuer=provider.settings.mfa_issuer_label,
                  qr_src="/account/mfa/qr.svg", action="/account/mfa/totp/confirm", error=error)


@router.post("/account/mfa/totp")
@_account_form
async def start_totp(provider: Provider, browser: Browser, user: UserView, _params: dict[str, str]) -> Response:
    try:
        await run(lambda: mfa.enroll_totp(provider, user.id))
    except Conflict:
        return await _page(provider, browser, user, status=409,
                           mfa_error="An authenticator app is already set up. Remove it first to use another one.")
    return RedirectResponse("/account/mfa/totp", status_code=303)


@router.get("/account/mfa/totp")
async def show_totp(request: Request) -> Response:
    provider, browser, user = await _signed_in(request)
    if browser is None or user is None:
        return await run(start_account_sign_in, provider, request)
    return await _enrolment_page(provider, browser, user)


@router.get("/account/mfa/qr.svg")
async def totp_qr(request: Request) -> Response:
    """The QR code of the signed-in user's pending enrolment; 404 for anything else."""
    provider, browser, user = await _signed_in(request)
    enrolment = await run(mfa.pending_enrolment, provider, user.id) if browser and user else None
    if enrolment is None:
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(enrolment.qr_svg, media_type="image/svg+xml", headers={
        "Cache-Control": "no-store", "Pragma": "no-cache", "Cross-Origin-Resource-Policy": "same-origin"})


@router.post("/account/mfa/totp/confirm")
@_account_form
async def confirm_totp(provider: Provider, browser: Browser, user: UserView, params: dict[str, str]) -> Response:
    code = _code_of(params)
    if not code:
        return await _enrolment_page(provider, browser, user, status=400,
                                     error="Enter the 6-digit code that your app shows.")
    try:
        codes = await run(lambda: mfa.confirm_totp(provider, user.id, code))
    except InvalidRequest:  # nothing pending (confirmed in another tab, or removed)
        return await _page(provider, browser, user, status=400,
                           mfa_error="There is no set-up in progress to confirm: start again.")
    except IdgateError as exc:  # a wrong code, the MFA throttle's back-off or lock
        message, status = _refusal(exc)
        return _with_retry_after(await _enrolment_page(provider, browser, user, error=message, status=status), exc)
    return render("mfa_codes.html", browser=browser, title="Two-step verification is on", codes=codes, first=True)


async def _with_code(provider: Provider, browser: Browser, user: UserView, params: dict[str, str], form: str,
                     action: Any) -> Response:
    """A posted form that needs a current code (or a recovery code): ``action(provider, user_id,
    code)`` checks it; the account page with the refusal otherwise."""
    code = _code_of(params)
    if not code:
        return await _page(provider, browser, user, status=400, mfa_form=form,
                           mfa_error="Enter a code from your authenticator app, or a recovery code.")
    try:
        result = await run(action, provider, user.id, code)
    except InvalidRequest as exc:
        return await _page(provider, browser, user, status=400, mfa_error=exc.description)
    except IdgateError as exc:
        message, status = _refusal(exc)
        if isinstance(exc, InvalidOtp):
            message = "That code is not right. Enter the current code from your app, or an unused recovery code."
        return _with_retry_after(await _page(provider, browser, user, status=status, mfa_form=form,
                                             mfa_error=message), exc)
    if form == "remove":
        return await _page(provider, browser, user, notice="Two-step verification is off: your authenticator app "
                                                           "and recovery codes no longer work for this account.")
    return render("mfa_codes.html", browser=browser, title="New recovery codes", codes=result, first=False)


@router.post("/account/mfa/totp/remove")
@_account_form
async def remove_totp(provider: Provider, browser: Browser, user: UserView, params: dict[str, str]) -> Response:
    return await _with_code(provider, browser, user, params, "remove", mfa.remove_own_totp)


@router.post("/account/mfa/recovery-codes")
@_account_form
async def regenerate_codes(provider: Provider, browser: Browser, user: UserView, params: dict[str, str]) -> Response:
    return await _with_code(provider, browser, user, params, "regenerate", mfa.regenerate_own_recovery_codes)
