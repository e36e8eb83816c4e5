"""``/account/mfa``: two-step verification (TOTP) pages of the signed-in user's account.

The rules are :mod:`idgate.mfa.service`'s, as for the ``/mfa`` API; the account page itself,
its sign-in check and its CSRF-checked forms are :mod:`idgate.server.endpoints.account`'s.

* ``POST /account/mfa/totp`` starts an enrolment, then ``GET /account/mfa/totp`` shows it: the QR
  code (``GET /account/mfa/qr.svg``, an image of the session user's pending enrolment, never
  cached) and the key in groups for typing; the secret never goes into a URL.
* ``POST /account/mfa/totp/confirm`` activates it with a first code (MFA throttle) and shows the
  ten recovery codes once.
* ``POST /account/mfa/totp/remove`` and ``POST /account/mfa/recovery-codes`` need a current code
  or a recovery code; removal is refused while a role of the user requires a second factor.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from idgate.errors import Conflict, IdgateError, InvalidRequest, TooManyRequests
from idgate.mfa import InvalidOtp
from idgate.mfa import service as mfa
from idgate.provider import Provider
from idgate.server.endpoints.account import account_form, account_page, signed_in
from idgate.server.interactions import start_account_sign_in
from idgate.server.pages import Browser, render, run
from idgate.store.users import UserView

router = APIRouter(include_in_schema=False)


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
        return await account_page(provider, browser, user, status=400 if error else 200,
                                  mfa_error=error or "There is no set-up in progress: start again.")
    return render("mfa_enrol.html", status=status, browser=browser, title="Set up two-step verification",
                  username=user.username, key=_grouped(enrolment.secret), issuer=provider.settings.mfa_issuer_label,
                  qr_src="/account/mfa/qr.svg", action="/account/mfa/totp/confirm", error=error)


@router.post("/account/mfa/totp")
@account_form
async def start_totp(provider: Provider, browser: Browser, user: UserView, _params: dict[str, str]) -> Response:
    try:
        await run(lambda: mfa.enroll_totp(provider, user.id))
    except Conflict:
        return await account_page(provider, browser, user, status=409, mfa_error="An authenticator app is already "
                                  "set up. Remove it first to use another one.")
    return RedirectResponse("/account/mfa/totp", status_code=303)


@router.get("/account/mfa/totp")
async def show_totp(request: Request) -> Response:
    provider, browser, user = await signed_in(request)
    if browser is None or user is None:
        return await run(start_account_sign_in, provider, request)
    return await _enrolment_page(provider, browser, user)


@router.get("/account/mfa/qr.svg")
async def totp_qr(request: Request) -> Response:
    """The QR code of the signed-in user's pending enrolment; 404 for anything else."""
    provider, browser, user = await signed_in(request)
    enrolment = await run(mfa.pending_enrolment, provider, user.id) if browser and user else None
    if enrolment is None:
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(enrolment.qr_svg, media_type="image/svg+xml", headers={
        "Cache-Control": "no-store", "Pragma": "no-cache", "Cross-Origin-Resource-Policy": "same-origin"})


@router.post("/account/mfa/totp/confirm")
@account_form
async def confirm_totp(provider: Provider, browser: Browser, user: UserView, params: dict[str, str]) -> Response:
    code = _code_of(params)
    if not code:
        return await _enrolment_page(provider, browser, user, status=400,
                                     error="Enter the 6-digit code that your app shows.")
    try:
        codes = await run(lambda: mfa.confirm_totp(provider, user.id, code))
    except InvalidRequest:  # nothing pending (confirmed in another tab, or removed)
        return await account_page(provider, browser, user, status=400,
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
        return await account_page(provider, browser, user, status=400, mfa_form=form,
                                  mfa_error="Enter a code from your authenticator app, or a recovery code.")
    try:
        result = await run(action, provider, user.id, code)
    except InvalidRequest as exc:
        return await account_page(provider, browser, user, status=400, mfa_error=exc.description)
    except IdgateError as exc:
        message, status = _refusal(exc)
        if isinstance(exc, InvalidOtp):
            message = "That code is not right. Enter the current code from your app, or an unused recovery code."
        return _with_retry_after(await account_page(provider, browser, user, status=status, mfa_form=form,
                                                    mfa_error=message), exc)
    if form == "remove":
        return await account_page(provider, browser, user, notice="Two-step verification is off: your authenticator "
                                                                  "app and recovery codes no longer work for this "
                                                                  "account.")
    return render("mfa_codes.html", browser=browser, title="New recovery codes", codes=result, first=False)


@router.post("/account/mfa/totp/remove")
@account_form
async def remove_totp(provider: Provider, browser: Browser, user: UserView, params: dict[str, str]) -> Response:
    return await _with_code(provider, browser, user, params, "remove", mfa.remove_own_totp)


@router.post("/account/mfa/recovery-codes")
@account_form
async def regenerate_codes(provider: Provider, browser: Browser, user: UserView, params: dict[str, str]) -> Response:
    return await _with_code(provider, browser, user, params, "regenerate", mfa.regenerate_own_recovery_codes)
