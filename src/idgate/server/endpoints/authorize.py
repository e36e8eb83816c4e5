"""``GET|POST /authorize`` (RFC 6749 §4.1.1, OIDC Core §3.1.2) and the pages behind it.

    /authorize -> (signed in and consented?) -> 303 to the client with code, state, iss
               -> otherwise 303 /interaction/{id}: the sign-in page, then the consent page

An interaction is the validated request stored server-side, bound to the browser session that
started it; its id in the URL is useless from another browser. Sign-in replaces the session
(new cookie). The login and consent forms POST to idgate and are answered with a 303, and
their page CSP allows ``form-action`` only to idgate and the client's registered redirect URI
origin (Chrome applies ``form-action`` to the redirects that follow a form submission).

After the password, a second factor (rules in :mod:`idgate.services.interaction_mfa`):

    POST /interaction/{id}/login -> the code page (account with a factor): POST .../otp
                                 -> the set-up page (a role requires a factor, none set up):
       GET  /interaction/{id}/mfa/qr.svg   the QR code of this interaction's pending enrolment
       POST /interaction/{id}/mfa/confirm  a first code: the factor is on, recovery codes once
       POST /interaction/{id}/mfa/continue signed in (amr pwd otp); on to consent / the code
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from idgate import clock, ids
from idgate.errors import IdgateError, InvalidCredentials, InvalidRequest, OAuthError, TooManyRequests
from idgate.mfa import InvalidOtp, MfaRequired
from idgate.mfa.service import verify_second_factor
from idgate.provider import Provider
from idgate.server.deps import provider_of
from idgate.server.forms import read_params
from idgate.server.pages import Browser, CsrfError, check_csrf, ensure_browser, error_page, load_browser, render, \
    run, set_cookie, sign_in
from idgate.services import authorization_codes, authorize_request, interaction_flow
from idgate.services import interaction_mfa as steps
from idgate.services.authorize_request import AuthorizeError, AuthRequest, PageError
from idgate.services.clients import ClientView, find_client, redirect_uri_registered
from idgate.services.login import check_credentials
from idgate.services.oidc import OIDC_SCOPES
from idgate.store import clients as repo
from idgate.store.db import transaction
from idgate.store.models_oauth import Interaction
from idgate.store.users import UserView

router = APIRouter(include_in_schema=False)
INTERACTION_TTL = timedelta(minutes=10)
MAX_QUERY = 8192

SCOPE_TEXT = {
    "openid": "Confirm who you are to the app (a user id unique to you)",
    "profile": "See your name and username",
    "email": "See your email address",
    "offline_access": "Stay signed in to the app when you are not using it",
}


# -- responses to the client ------------------------------------------------------------------


def _to_client(issuer: str, redirect_uri: str, mode: str, params: dict[str, str],
               browser: Browser | None = None) -> Response:
    if mode == "form_post":
        # OAuth 2.0 Form Post Response Mode: an auto-submitting form (one script file, no inline
        # script), with a button for browsers without JavaScript.
        return render("form_post.html", browser=browser, action=redirect_uri, fields=params,
                      form_targets=(redirect_uri,), script=True, title="Returning to the app")
    sep = "&" if "?" in redirect_uri else "?"
    return set_cookie(RedirectResponse(redirect_uri + sep + urlencode(params), status_code=303), browser)


def _error_to_client(issuer: str, err: AuthorizeError, browser: Browser | None = None) -> Response:
    return _to_client(issuer, err.redirect_uri, err.response_mode, authorize_request.error_params(issuer, err), browser)


def _complete(provider: Provider, req: AuthRequest, user: UserView, browser: Browser) -> Response:
    code = authorization_codes.issue_code(provider, req, user, auth_time=browser.auth_time or clock.now(), amr=browser.amr,
                           sid=browser.sid)
    params = authorize_request.response_params(provider.settings.issuer, req.state, code=code)
    return _to_client(provider.settings.issuer, req.redirect_uri, req.response_mode, params, browser)


# -- /authorize -------------------------------------------------------------------------------


async def _request_pairs(request: Request, provider: Provider) -> list[tuple[str, str]]:
    if request.method == "POST":
        # OIDC Core §3.1.2.1: POST with a form body is allowed too. Duplicates are detected later.
        params = await read_params(request, provider.settings.max_body_bytes, allow_json=False)
        return list(params.items())
    raw = request.scope.get("query_string", b"")
    if len(raw) > MAX_QUERY:
        raise PageError("The request is too long.")
    try:
        return parse_qsl(raw.decode("ascii"), keep_blank_values=True, max_num_fields=64)
    except (UnicodeDecodeError, ValueError):
        raise PageError("The request is malformed.") from None


@router.api_route("/authorize", methods=["GET", "POST"])
async def authorize(request: Request) -> Response:
    provider = provider_of(request)
    issuer = provider.settings.issuer
    try:
        pairs = await _request_pairs(request, provider)
        req, client = await run(authorize_request.parse_request, provider, pairs)
    except PageError as exc:
        return error_page(exc, title="This sign-in link is not valid")
    except InvalidRequest as exc:
        return error_page(PageError(exc.description), title="This sign-in link is not valid")
    except AuthorizeError as err:
        return _error_to_client(issuer, err)
    browser = await run(load_browser, provider, request)
    user = await run(interaction_flow.load_user, provider, browser.user_id) if browser else None
    now = clock.now()
    given = await run(interaction_flow.consented, provider, user.id, client.client_id) if user else set()
    step = interaction_flow.next_step(req, client, user, browser.auth_time if browser else None, now, login_done=False,
                          consent_done=False, consented=given)
    if "none" in req.prompt:
        # OIDC Core §3.1.2.6: no page may be shown; say what would have been needed.
        if step is not None:
            error = "login_required" if step == "login" else "consent_required"
            text = "The user is not signed in." if step == "login" else "The user has not consented."
            return _error_to_client(issuer, AuthorizeError(error, text, redirect_uri=req.redirect_uri,
                                                           state=req.state, response_mode=req.response_mode))
    if step is None and browser is not None and user is not None:
        return await run(_complete, provider, req, user, browser)
    browser = browser or await run(ensure_browser, provider, request)
    interaction_id = await run(_start_interaction, provider, browser, "authorize", req.to_json())
    return set_cookie(RedirectResponse(f"/interaction/{interaction_id}", status_code=303), browser)


def _start_interaction(provider: Provider, browser: Browser, kind: str, params: str) -> str:
    interaction_id = ids.jti() + ids.jti()
    now = clock.utcnow()
    with transaction(provider.sessions) as session:
        repo.add_interaction(session, Interaction(id_hash=ids.token_hash(interaction_id), session_hash=browser.id_hash,
                                                  kind=kind, params=params, created_at=now,
                                                  expires_at=now + INTERACTION_TTL))
    return interaction_id


# -- /interaction/{id}: sign in, consent, finish ----------------------------------------------


class _Lost(PageError):
    status_code = 400
    description = ("This sign-in page has expired or was opened in another browser. Go back to the app "
                   "and start again.")


def _find_interaction(provider: Provider, browser: Browser | None, interaction_id: str) -> Interaction:
    if browser is None or not interaction_id or len(interaction_id) > 64:
        raise _Lost(detail="no session or bad interaction id")
    with transaction(provider.sessions) as session:
        row = repo.find_interaction(session, ids.token_hash(interaction_id))
        if row is None or row.session_hash != browser.id_hash or clock.utcnow() >= row.expires_at:
            raise _Lost(detail="interaction unknown, expired, or of another browser session")
        session.expunge(row)
        return row


def _update_interaction(provider: Provider, interaction_id: str, **values: object) -> None:
    with transaction(provider.sessions) as session:
        row = repo.find_interaction(session, ids.token_hash(interaction_id))
        if row is not None:
            for key, value in values.items():
                setattr(row, key, value)


def _end_interaction(provider: Provider, interaction_id: str) -> None:
    with transaction(provider.sessions) as session:
        repo.delete_interaction(session, ids.token_hash(interaction_id))


def _scope_lines(scope: list[str]) -> list[str]:
    lines = [SCOPE_TEXT[s] for s in scope if s in SCOPE_TEXT]
    lines += [f"Act for you with the permission “{s}”" for s in scope if s not in OIDC_SCOPES]
    return lines


def _login_page(req: AuthRequest | None, client: ClientView | None, browser: Browser, interaction_id: str, *,
                username: str = "", error: str | None = None, status: int = 200) -> Response:
    targets = (req.redirect_uri,) if req else ()
    return render("login.html", status=status, browser=browser, form_targets=targets, title="Sign in",
                  action=f"/interaction/{interaction_id}/login", client_name=client.name if client else None,
                  username=username or (req.login_hint if req else "") or "", error=error)


def _otp_page(req: AuthRequest | None, client: ClientView | None, browser: Browser, interaction_id: str, *,
              error: str | None = None, status: int = 200) -> Response:
    targets = (req.redirect_uri,) if req else ()
    return render("otp.html", status=status, browser=browser, form_targets=targets, title="Two-step verification",
                  action=f"/interaction/{interaction_id}/otp", client_name=client.name if client else None, error=error)


def _mfa_pending(row: Interaction) -> bool:
    return steps.step_of(row) == steps.OTP


async def _enrol_page(provider: Provider, req: AuthRequest | None, client: ClientView | None, browser: Browser,
                      interaction_id: str, row: Interaction, *, error: str | None = None,
                      status: int = 200) -> Response:
    """The set-up step: QR code, key in groups, a code form; the login page if it is gone."""
    step = await run(steps.enrolment_of, provider, row)
    if step is None:
        await run(steps.abandon, provider, interaction_id)
        return _login_page(req, client, browser, interaction_id, status=400,
                           error="Setting up two-step verification was interrupted. Sign in again.")
    base = f"/interaction/{interaction_id}/mfa"
    return render("mfa_enrol.html", status=status, browser=browser, title="Set up two-step verification",
                  username=step.username, key=step.grouped_key, issuer=provider.settings.mfa_issuer_label,
                  qr_src=base + "/qr.svg", action=base + "/confirm", client_name=client.name if client else None,
                  sign_in=True, error=error)


def _codes_page(req: AuthRequest | None, browser: Browser, interaction_id: str, codes: tuple[str, ...]) -> Response:
    """The recovery codes (once; empty when the page is shown again) and "Continue"."""
    targets = (req.redirect_uri,) if req else ()  # Continue leads, through 303s, to the client
    return render("mfa_codes.html", browser=browser, form_targets=targets, title="Two-step verification is on",
                  codes=codes, first=True, continue_action=f"/interaction/{interaction_id}/mfa/continue")


async def _resume(provider: Provider, browser: Browser, interaction_id: str) -> Response:
    row = await run(_find_interaction, provider, browser, interaction_id)
    pending = steps.step_of(row)
    if pending is not None:
        req, client = await _request_and_client(provider, row)
        if pending == steps.ENROL:
            return await _enrol_page(provider, req, client, browser, interaction_id, row)
        if pending == steps.ENROLLED:
            return _codes_page(req, browser, interaction_id, ())
        return _otp_page(req, client, browser, interaction_id)
    user = await run(interaction_flow.load_user, provider, browser.user_id)
    if row.kind == "account":
        if user is None:
            return _login_page(None, None, browser, interaction_id)
        await run(_end_interaction, provider, interaction_id)
        return set_cookie(RedirectResponse("/account", status_code=303), browser)
    req = AuthRequest.from_json(row.params)
    client = await run(find_client, provider.sessions, req.client_id)
    if client is None or not redirect_uri_registered(client, req.redirect_uri):
        await run(_end_interaction, provider, interaction_id)
        raise PageError("The application is no longer registered.", detail="client removed during interaction")
    given = await run(interaction_flow.consented, provider, user.id, client.client_id) if user else set()
    step = interaction_flow.next_step(req, client, user, browser.auth_time, clock.now(), login_done=row.login_done,
                          consent_done=row.consent_done, consented=given)
    if step == "login" or user is None:
        return _login_page(req, client, browser, interaction_id)
    if step == "consent":
        scope = interaction_flow.grantable_scope(req.scope, user)
        return render("consent.html", browser=browser, form_targets=(req.redirect_uri,), title="Allow access?",
                      action=f"/interaction/{interaction_id}/consent", client_name=client.name,
                      client_id=client.client_id, redirect_host=_host(req.redirect_uri), username=user.username,
                      lines=_scope_lines(scope))
    await run(_end_interaction, provider, interaction_id)
    return await run(_complete, provider, req, user, browser)


def _host(uri: str) -> str:
    parts = urlsplit(uri)
    return parts.netloc or f"{parts.scheme}:"


@router.get("/interaction/{interaction_id}")
async def interaction(request: Request, interaction_id: str) -> Response:
    provider = provider_of(request)
    browser = await run(load_browser, provider, request)
    try:
        if browser is None:
            raise _Lost(detail="no browser session")
        return await _resume(provider, browser, interaction_id)
    except PageError as exc:
        return error_page(exc, browser=browser)


@dataclass
class _Posted:
    """A form posted to an interaction page, after the checks every such form needs."""

    provider: Provider
    browser: Browser
    params: dict[str, str]
    row: Interaction


async def _read_posted(request: Request, interaction_id: str) -> _Posted | Response:
    """Size/type-checked form, the interaction it belongs to, and its CSRF token: or an error page."""
    provider = provider_of(request)
    browser = await run(load_browser, provider, request)
    try:
        params = await read_params(request, provider.settings.max_body_bytes, allow_json=False)
        row = await run(_find_interaction, provider, browser, interaction_id)
        check_csrf(browser, params.get("csrf_token"))
    except (PageError, CsrfError, InvalidRequest) as exc:
        return error_page(exc, browser=browser)
    assert browser is not None  # check_csrf refuses a request without a browser session
    return _Posted(provider, browser, params, row)


async def _request_and_client(provider: Provider, row: Interaction) -> tuple[AuthRequest | None, ClientView | None]:
    req = AuthRequest.from_json(row.params) if row.kind == "authorize" else None
    client = await run(find_client, provider.sessions, req.client_id) if req else None
    return req, client


@router.post("/interaction/{interaction_id}/login")
async def interaction_login(request: Request, interaction_id: str) -> Response:
    posted = await _read_posted(request, interaction_id)
    if isinstance(posted, Response):
        return posted
    provider, browser, params, row = posted.provider, posted.browser, posted.params, posted.row
    req, client = await _request_and_client(provider, row)
    username = (params.get("username") or "").strip()[:128]
    password = params.get("password") or ""
    if not username or not password:
        return _login_page(req, client, browser, interaction_id, username=username, status=400,
                           error="Enter your username and your password.")
    try:
        outcome = await check_credentials(provider, username, password)
    except MfaRequired as exc:
        # Password right, second factor next (issue 5); the password is not asked for again.
        await run(steps.await_code, provider, interaction_id, exc.user_id)
        return _otp_page(req, client, browser, interaction_id)
    except InvalidCredentials:
        # One message for unknown user, wrong password and disabled account.
        return _login_page(req, client, browser, interaction_id, username=username, status=401,
                           error="The username or password is incorrect.")
    except TooManyRequests as exc:
        return _retry_later(_login_page(req, client, browser, interaction_id, username=username, status=429,
                                        error="Too many attempts. Wait a moment, then try again."), exc)
    except OAuthError as exc:  # a locked account: its own words
        return _login_page(req, client, browser, interaction_id, username=username, status=exc.status_code,
                           error=exc.description)
    if outcome.mfa_enrollment_required:
        # A role requires a second factor and none is set up: set one up now, in this
        # interaction, before the sign-in completes (no code is issued without it).
        if await run(steps.begin_enrolment, provider, interaction_id, outcome.user.id) == steps.OTP:
            return _otp_page(req, client, browser, interaction_id)
        row = await run(_find_interaction, provider, browser, interaction_id)
        return await _enrol_page(provider, req, client, browser, interaction_id, row)
    return await _signed_in(provider, request, browser, interaction_id, outcome.user.id, "pwd")


def _retry_later(response: Response, exc: TooManyRequests) -> Response:
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _signed_in(provider: Provider, request: Request, browser: Browser, interaction_id: str, user_id: str,
                     amr: str) -> Response:
    fresh = await run(sign_in, provider, request, browser, user_id, clock.now(), amr)
    await run(lambda: _update_interaction(provider, interaction_id, login_done=True, pending_user_id=None,
                                          pending_since=None, pending_step=None))
    return set_cookie(RedirectResponse(f"/interaction/{interaction_id}", status_code=303), fresh)


@router.post("/interaction/{interaction_id}/otp")
async def interaction_otp(request: Request, interaction_id: str) -> Response:
    posted = await _read_posted(request, interaction_id)
    if isinstance(posted, Response):
        return posted
    provider, browser, params, row = posted.provider, posted.browser, posted.params, posted.row
    req, client = await _request_and_client(provider, row)
    if not _mfa_pending(row) or row.pending_user_id is None:
        return _login_page(req, client, browser, interaction_id, status=400,
                           error="That took too long. Sign in again.")
    user_id = row.pending_user_id
    try:
        await run(verify_second_factor, provider, user_id, (params.get("otp") or "")[:32])
    except InvalidOtp:
        return _otp_page(req, client, browser, interaction_id, status=401,
                         error="That code is not right. Enter the current code from your app.")
    except TooManyRequests as exc:
        return _retry_later(_otp_page(req, client, browser, interaction_id, status=429,
                                      error="Too many attempts. Wait a moment, then try again."), exc)
    except OAuthError as exc:
        await run(steps.abandon, provider, interaction_id)
        return _login_page(req, client, browser, interaction_id, status=exc.status_code, error=exc.description)
    if await run(interaction_flow.load_user, provider, user_id) is None:
        return _login_page(req, client, browser, interaction_id, status=401,
                           error="The username or password is incorrect.")
    return await _signed_in(provider, request, browser, interaction_id, user_id, "pwd otp")


# -- setting up a second factor during sign-in (a role requires one, none is set up) ----------


@router.get("/interaction/{interaction_id}/mfa/qr.svg")
async def interaction_qr(request: Request, interaction_id: str) -> Response:
    """The QR code of the pending enrolment of this interaction's set-up step (after the
    password, in this browser session); 404 for anything else."""
    provider = provider_of(request)
    browser = await run(load_browser, provider, request)
    try:
        row = await run(_find_interaction, provider, browser, interaction_id)
    except PageError:
        row = None
    step = await run(steps.enrolment_of, provider, row) if row is not None else None
    if step is None:
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(step.enrolment.qr_svg, media_type="image/svg+xml", headers={
        "Cache-Control": "no-store", "Pragma": "no-cache", "Cross-Origin-Resource-Policy": "same-origin"})


_SIGN_IN_FIRST = "Sign in first: enter your username and password."


@router.post("/interaction/{interaction_id}/mfa/confirm")
async def interaction_mfa_confirm(request: Request, interaction_id: str) -> Response:
    posted = await _read_posted(request, interaction_id)
    if isinstance(posted, Response):
        return posted
    provider, browser, params, row = posted.provider, posted.browser, posted.params, posted.row
    req, client = await _request_and_client(provider, row)
    if steps.step_of(row) != steps.ENROL:
        return _login_page(req, client, browser, interaction_id, status=400, error=_SIGN_IN_FIRST)
    code = (params.get("otp") or "").replace(" ", "").strip()[:64]
    if not code:
        return await _enrol_page(provider, req, client, browser, interaction_id, row, status=400,
                                 error="Enter the 6-digit code that your app shows.")
    try:
        codes = await run(steps.confirm_enrolment, provider, interaction_id, row, code)
    except InvalidOtp:
        return await _enrol_page(provider, req, client, browser, interaction_id, row, status=400,
                                 error="That code is not right. Enter the current 6-digit code from your app.")
    except TooManyRequests as exc:
        return _retry_later(await _enrol_page(provider, req, client, browser, interaction_id, row, status=429,
                                              error="Too many attempts. Wait a moment, then try again."), exc)
    except steps.StepUnavailable:
        return _login_page(req, client, browser, interaction_id, status=400, error=_SIGN_IN_FIRST)
    except InvalidRequest:  # the pending enrolment went away (removed or replaced elsewhere)
        await run(steps.abandon, provider, interaction_id)
        return _login_page(req, client, browser, interaction_id, status=400,
                           error="Setting up two-step verification was interrupted. Sign in again.")
    except IdgateError as exc:  # a locked account: its own words
        await run(steps.abandon, provider, interaction_id)
        return _login_page(req, client, browser, interaction_id, status=exc.status_code, error=exc.description)
    return _codes_page(req, browser, interaction_id, codes)


@router.post("/interaction/{interaction_id}/mfa/continue")
async def interaction_mfa_continue(request: Request, interaction_id: str) -> Response:
    posted = await _read_posted(request, interaction_id)
    if isinstance(posted, Response):
        return posted
    provider, browser, row = posted.provider, posted.browser, posted.row
    try:
        user_id = await run(steps.finish_enrolment, provider, interaction_id, row)
    except steps.StepUnavailable:
        req, client = await _request_and_client(provider, row)
        return _login_page(req, client, browser, interaction_id, status=400, error=_SIGN_IN_FIRST)
    if await run(interaction_flow.load_user, provider, user_id) is None:  # disabled meanwhile
        req, client = await _request_and_client(provider, row)
        return _login_page(req, client, browser, interaction_id, status=401,
                           error="The username or password is incorrect.")
    # A code of the new authenticator was just given in this interaction: password and OTP.
    return await _signed_in(provider, request, browser, interaction_id, user_id, "pwd otp")


@router.post("/interaction/{interaction_id}/consent")
async def interaction_consent(request: Request, interaction_id: str) -> Response:
    posted = await _read_posted(request, interaction_id)
    if isinstance(posted, Response):
        return posted
    provider, browser, params, row = posted.provider, posted.browser, posted.params, posted.row
    if row.kind != "authorize":
        return error_page(_Lost(detail="consent posted to an account interaction"), browser=browser)
    req = AuthRequest.from_json(row.params)
    user = await run(interaction_flow.load_user, provider, browser.user_id)
    if user is None:
        return set_cookie(RedirectResponse(f"/interaction/{interaction_id}", status_code=303), browser)
    if params.get("decision") != "allow":
        await run(_end_interaction, provider, interaction_id)
        err = AuthorizeError("access_denied", "The user denied the request.", redirect_uri=req.redirect_uri,
                             state=req.state, response_mode=req.response_mode)
        return _error_to_client(provider.settings.issuer, err)
    await run(interaction_flow.record_consent, provider, user, req)
    await run(lambda: _update_interaction(provider, interaction_id, consent_done=True))
    return RedirectResponse(f"/interaction/{interaction_id}", status_code=303)


def start_account_sign_in(provider: Provider, request: Request) -> Response:
    """Used by /account: sign in first, then come back."""
    browser = ensure_browser(provider, request)
    interaction_id = _start_interaction(provider, browser, "account", "{}")
    return set_cookie(RedirectResponse(f"/interaction/{interaction_id}", status_code=303), browser)
