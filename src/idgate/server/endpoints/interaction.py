"""``/interaction/{id}``: the pages of an authorization request (RFC 6749 §4.1.1, OIDC Core
§3.1.2.3 authentication, §3.1.2.4 consent) - sign in, consent, finish.

    GET  /interaction/{id}          the step the interaction is at (sign-in, code, consent), or
                                    finish: 303 to the client with the code (/account: back there)
    POST /interaction/{id}/login    username and password
    POST /interaction/{id}/otp      the second-factor code (an account with a factor)
    POST /interaction/{id}/consent  allow or deny

After the password, a second factor (rules in :mod:`idgate.services.interaction_mfa`): the code
page for an account with a factor, or the set-up pages of
:mod:`idgate.server.endpoints.interaction_mfa` when a role requires a factor and none is set up.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from idgate import clock
from idgate.errors import InvalidCredentials, OAuthError, TooManyRequests
from idgate.mfa import InvalidOtp, MfaRequired
from idgate.mfa.service import verify_second_factor
from idgate.provider import Provider
from idgate.server.authorization_response import code_to_client, error_to_client
from idgate.server.deps import provider_of
from idgate.server.interaction_pages import codes_page, consent_page, enrol_page, login_page, otp_page
from idgate.server.interactions import LostInteraction, account_reauth, account_return, end_interaction, \
    find_interaction, read_posted_form, request_and_client, retry_later, signed_in, update_interaction
from idgate.server.pages import Browser, error_page, load_browser, run, set_cookie
from idgate.services import interaction_flow
from idgate.services import interaction_mfa as steps
from idgate.services.authorize_request import AuthorizeError, AuthRequest, PageError
from idgate.services.clients.redirect_uris import redirect_uri_registered
from idgate.services.clients.registry import find_client
from idgate.services.login import check_credentials
from idgate.store.models_oauth import Interaction

router = APIRouter(include_in_schema=False)


def _mfa_pending(row: Interaction) -> bool:
    return steps.step_of(row) == steps.OTP


async def _resume(provider: Provider, browser: Browser, interaction_id: str) -> Response:
    row = await run(find_interaction, provider, browser, interaction_id)
    pending = steps.step_of(row)
    if pending is not None:
        req, client = await request_and_client(provider, row)
        if pending == steps.ENROL:
            return await enrol_page(provider, req, client, browser, interaction_id, row)
        if pending == steps.ENROLLED:
            return codes_page(req, browser, interaction_id, ())
        factors = await run(steps.second_factors, provider, row.pending_user_id)
        return otp_page(req, client, browser, interaction_id, factors=factors)
    user = await run(interaction_flow.load_user, provider, browser.user_id)
    if row.kind == "account":
        if user is None or (account_reauth(row) and not row.login_done):
            # /account, or a change there that needs a recent sign-in (adding a passkey).
            return login_page(None, None, browser, interaction_id, username=user.username if user else "")
        await run(end_interaction, provider, interaction_id)
        return set_cookie(RedirectResponse(account_return(row), status_code=303), browser)
    req = AuthRequest.from_json(row.params)
    client = await run(find_client, provider.sessions, req.client_id)
    if client is None or not redirect_uri_registered(client, req.redirect_uri):
        await run(end_interaction, provider, interaction_id)
        raise PageError("The application is no longer registered.", detail="client removed during interaction")
    given = await run(interaction_flow.consented, provider, user.id, client.client_id) if user else set()
    step = interaction_flow.next_step(req, client, user, browser.auth_time, clock.now(), login_done=row.login_done,
                          consent_done=row.consent_done, consented=given, amr=browser.amr)
    if step == "login" or user is None:
        return login_page(req, client, browser, interaction_id)
    if step == "consent":
        return consent_page(req, client, user, browser, interaction_id)
    await run(end_interaction, provider, interaction_id)
    return await run(code_to_client, provider, req, user, browser)


@router.get("/interaction/{interaction_id}")
async def interaction(request: Request, interaction_id: str) -> Response:
    provider = provider_of(request)
    browser = await run(load_browser, provider, request)
    try:
        if browser is None:
            raise LostInteraction(detail="no browser session")
        return await _resume(provider, browser, interaction_id)
    except PageError as exc:
        return error_page(exc, browser=browser)


@router.post("/interaction/{interaction_id}/login")
async def interaction_login(request: Request, interaction_id: str) -> Response:
    posted = await read_posted_form(request, interaction_id)
    if isinstance(posted, Response):
        return posted
    provider, browser, params, row = posted.provider, posted.browser, posted.params, posted.row
    req, client = await request_and_client(provider, row)
    if interaction_flow.passkey_required(req, client):
        return login_page(req, client, browser, interaction_id, status=400,
                          error="This app asks you to sign in with a passkey.")
    username = (params.get("username") or "").strip()[:128]
    password = params.get("password") or ""
    if not username or not password:
        return login_page(req, client, browser, interaction_id, username=username, status=400,
                          error="Enter your username and your password.")
    try:
        outcome = await check_credentials(provider, username, password)
    except MfaRequired as exc:
        # Password right, second factor next (issue 5); the password is not asked for again.
        await run(steps.await_code, provider, interaction_id, exc.user_id)
        factors = await run(steps.second_factors, provider, exc.user_id)
        return otp_page(req, client, browser, interaction_id, factors=factors)
    except InvalidCredentials:
        # One message for unknown user, wrong password and disabled account.
        return login_page(req, client, browser, interaction_id, username=username, status=401,
                          error="The username or password is incorrect.")
    except TooManyRequests as exc:
        return retry_later(login_page(req, client, browser, interaction_id, username=username, status=429,
                                      error="Too many attempts. Wait a moment, then try again."), exc)
    except OAuthError as exc:  # a locked account: its own words
        return login_page(req, client, browser, interaction_id, username=username, status=exc.status_code,
                          error=exc.description)
    if outcome.mfa_enrollment_required:
        # A role requires a second factor and none is set up: set one up now, in this
        # interaction, before the sign-in completes (no code is issued without it).
        if await run(steps.begin_enrolment, provider, interaction_id, outcome.user.id) == steps.OTP:
            factors = await run(steps.second_factors, provider, outcome.user.id)
            return otp_page(req, client, browser, interaction_id, factors=factors)
        row = await run(find_interaction, provider, browser, interaction_id)
        return await enrol_page(provider, req, client, browser, interaction_id, row)
    return await signed_in(provider, request, browser, interaction_id, outcome.user.id, "pwd")


@router.post("/interaction/{interaction_id}/otp")
async def interaction_otp(request: Request, interaction_id: str) -> Response:
    posted = await read_posted_form(request, interaction_id)
    if isinstance(posted, Response):
        return posted
    provider, browser, params, row = posted.provider, posted.browser, posted.params, posted.row
    req, client = await request_and_client(provider, row)
    if not _mfa_pending(row) or row.pending_user_id is None:
        return login_page(req, client, browser, interaction_id, status=400,
                          error="That took too long. Sign in again.")
    user_id = row.pending_user_id
    factors = await run(steps.second_factors, provider, user_id)
    try:
        await run(verify_second_factor, provider, user_id, (params.get("otp") or "")[:32])
    except InvalidOtp:
        return otp_page(req, client, browser, interaction_id, factors=factors, status=401,
                        error="That code is not right. Enter the current code from your app.")
    except TooManyRequests as exc:
        return retry_later(otp_page(req, client, browser, interaction_id, factors=factors, status=429,
                                    error="Too many attempts. Wait a moment, then try again."), exc)
    except OAuthError as exc:
        await run(steps.abandon, provider, interaction_id)
        return login_page(req, client, browser, interaction_id, status=exc.status_code, error=exc.description)
    if await run(interaction_flow.load_user, provider, user_id) is None:
        return login_page(req, client, browser, interaction_id, status=401,
                          error="The username or password is incorrect.")
    return await signed_in(provider, request, browser, interaction_id, user_id, "pwd otp")


@router.post("/interaction/{interaction_id}/consent")
async def interaction_consent(request: Request, interaction_id: str) -> Response:
    posted = await read_posted_form(request, interaction_id)
    if isinstance(posted, Response):
        return posted
    provider, browser, params, row = posted.provider, posted.browser, posted.params, posted.row
    if row.kind != "authorize":
        return error_page(LostInteraction(detail="consent posted to an account interaction"), browser=browser)
    req = AuthRequest.from_json(row.params)
    user = await run(interaction_flow.load_user, provider, browser.user_id)
    if user is None:
        return set_cookie(RedirectResponse(f"/interaction/{interaction_id}", status_code=303), browser)
    if params.get("decision") != "allow":
        await run(end_interaction, provider, interaction_id)
        err = AuthorizeError("access_denied", "The user denied the request.", redirect_uri=req.redirect_uri,
                             state=req.state, response_mode=req.response_mode)
        return error_to_client(provider.settings.issuer, err)
    await run(interaction_flow.record_consent, provider, user, req)
    await run(lambda: update_interaction(provider, interaction_id, consent_done=True))
    return RedirectResponse(f"/interaction/{interaction_id}", status_code=303)
