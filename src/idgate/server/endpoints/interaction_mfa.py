"""``/interaction/{id}/mfa/*``: setting up a second factor during sign-in, when a role requires
one and none is set up (rules in :mod:`idgate.services.interaction_mfa`); no authorization code
is issued (RFC 6749 §4.1.2) until it is done.

    POST /interaction/{id}/login -> the set-up page (:mod:`idgate.server.endpoints.interaction`)
       GET  /interaction/{id}/mfa/qr.svg   the QR code of this interaction's pending enrolment
       POST /interaction/{id}/mfa/confirm  a first code: the factor is on, recovery codes once
       POST /interaction/{id}/mfa/continue signed in (amr pwd otp); on to consent / the code
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from idgate.errors import IdgateError, InvalidRequest, TooManyRequests
from idgate.mfa import InvalidOtp
from idgate.server.deps import provider_of
from idgate.server.interaction_pages import codes_page, enrol_page, login_page
from idgate.server.interactions import find_interaction, read_posted_form, request_and_client, retry_later, \
    signed_in
from idgate.server.pages import load_browser, run
from idgate.services import interaction_flow
from idgate.services import interaction_mfa as steps
from idgate.services.authorize_request import PageError

router = APIRouter(include_in_schema=False)
_SIGN_IN_FIRST = "Sign in first: enter your username and password."


@router.get("/interaction/{interaction_id}/mfa/qr.svg")
async def interaction_qr(request: Request, interaction_id: str) -> Response:
    """The QR code of the pending enrolment of this interaction's set-up step (after the
    password, in this browser session); 404 for anything else."""
    provider = provider_of(request)
    browser = await run(load_browser, provider, request)
    try:
        row = await run(find_interaction, provider, browser, interaction_id)
    except PageError:
        row = None
    step = await run(steps.enrolment_of, provider, row) if row is not None else None
    if step is None:
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(step.enrolment.qr_svg, media_type="image/svg+xml", headers={
        "Cache-Control": "no-store", "Pragma": "no-cache", "Cross-Origin-Resource-Policy": "same-origin"})


@router.post("/interaction/{interaction_id}/mfa/confirm")
async def interaction_mfa_confirm(request: Request, interaction_id: str) -> Response:
    posted = await read_posted_form(request, interaction_id)
    if isinstance(posted, Response):
        return posted
    provider, browser, params, row = posted.provider, posted.browser, posted.params, posted.row
    req, client = await request_and_client(provider, row)
    if steps.step_of(row) != steps.ENROL:
        return login_page(req, client, browser, interaction_id, status=400, error=_SIGN_IN_FIRST)
    code = (params.get("otp") or "").replace(" ", "").strip()[:64]
    if not code:
        return await enrol_page(provider, req, client, browser, interaction_id, row, status=400,
                                error="Enter the 6-digit code that your app shows.")
    try:
        codes = await run(steps.confirm_enrolment, provider, interaction_id, row, code)
    except InvalidOtp:
        return await enrol_page(provider, req, client, browser, interaction_id, row, status=400,
                                error="That code is not right. Enter the current 6-digit code from your app.")
    except TooManyRequests as exc:
        return retry_later(await enrol_page(provider, req, client, browser, interaction_id, row, status=429,
                                            error="Too many attempts. Wait a moment, then try again."), exc)
    except steps.StepUnavailable:
        return login_page(req, client, browser, interaction_id, status=400, error=_SIGN_IN_FIRST)
    except InvalidRequest:  # the pending enrolment went away (removed or replaced elsewhere)
        await run(steps.abandon, provider, interaction_id)
        return login_page(req, client, browser, interaction_id, status=400,
                          error="Setting up two-step verification was interrupted. Sign in again.")
    except IdgateError as exc:  # a locked account: its own words
        await run(steps.abandon, provider, interaction_id)
        return login_page(req, client, browser, interaction_id, status=exc.status_code, error=exc.description)
    return codes_page(req, browser, interaction_id, codes)


@router.post("/interaction/{interaction_id}/mfa/continue")
async def interaction_mfa_continue(request: Request, interaction_id: str) -> Response:
    posted = await read_posted_form(request, interaction_id)
    if isinstance(posted, Response):
        return posted
    provider, browser, row = posted.provider, posted.browser, posted.row
    try:
        user_id = await run(steps.finish_enrolment, provider, interaction_id, row)
    except steps.StepUnavailable:
        req, client = await request_and_client(provider, row)
        return login_page(req, client, browser, interaction_id, status=400, error=_SIGN_IN_FIRST)
    if await run(interaction_flow.load_user, provider, user_id) is None:  # disabled meanwhile
        req, client = await request_and_client(provider, row)
        return login_page(req, client, browser, interaction_id, status=401,
                          error="The username or password is incorrect.")
    # A code of the new authenticator was just given in this interaction: password and OTP.
    return await signed_in(provider, request, browser, interaction_id, user_id, "pwd otp")
