"""``GET|POST /end_session``: OpenID Connect RP-Initiated Logout 1.0.

* ``id_token_hint`` must be an ID token this server signed (``typ: JWT``); an access token is
  refused. It may have expired.
* ``post_logout_redirect_uri`` is honoured only if it is registered, exactly, for the client
  named by the hint's ``aud`` (or ``client_id``); otherwise the user sees idgate's page.
* Without a valid hint for the signed-in user the user is asked first (§2: logout requests can
  be forged by any site, so they need the user's confirmation, a POST with a CSRF token).

Signing out ends the browser session and the refresh-token sessions apps got through it.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from idgate import clock
from idgate.errors import InvalidRequest, InvalidToken
from idgate.provider import Provider
from idgate.server.deps import provider_of
from idgate.server.forms import read_params
from idgate.server.pages import Browser, CsrfError, check_csrf, clear_cookie, error_page, load_browser, render, \
    run, sign_out
from idgate.services.authorize_request import PageError
from idgate.services.clients.registry import find_client
from idgate.services.clients.view import ClientView
from idgate.services.oidc import hint_client_id, verify_id_token_hint
from idgate.store import clients as repo
from idgate.store import tokens as token_rows
from idgate.store.db import transaction

router = APIRouter(include_in_schema=False)
_FIELDS = ("post_logout_redirect_uri", "state", "client_id")


def _single(pairs: list[tuple[str, str]]) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            raise PageError(f"Parameter {key!r} appears more than once.")
        params[key] = value
    return params


def _check(provider: Provider, params: dict[str, str]) -> tuple[dict[str, str], ClientView | None, str | None]:
    """Validate; returns (fields to carry, client, sub from the hint)."""
    hint_sub = None
    client_id = params.get("client_id") or None
    hint = params.get("id_token_hint")
    if hint:
        try:
            claims = verify_id_token_hint(provider, hint)
        except InvalidToken as exc:
            raise PageError("The sign-out request carries an ID token that idgate did not issue or cannot accept.",
                            detail=f"id_token_hint: {exc.reason}") from None
        aud = hint_client_id(claims)
        if client_id is not None and aud != client_id:
            raise PageError("The sign-out request names two different applications.", detail="client_id != aud")
        client_id, hint_sub = aud, str(claims["sub"])
    client = find_client(provider.sessions, client_id) if client_id else None
    if client_id and client is None:
        raise PageError("The application that sent you here is not registered.", detail="unknown client")
    redirect = params.get("post_logout_redirect_uri") or None
    if redirect is not None and (client is None or redirect not in client.post_logout_redirect_uris):
        raise PageError("The address to return to after signing out is not registered for this application, so "
                        "idgate will not send you there.", detail="post_logout_redirect_uri not registered")
    fields = {"post_logout_redirect_uri": redirect or "", "state": params.get("state") or "",
              "client_id": client.client_id if client else ""}
    return fields, client, hint_sub


def end_browser(provider: Provider, browser: Browser) -> None:
    """Sign out this browser and end app sessions that came from it."""
    now = clock.utcnow()
    with transaction(provider.sessions) as session:
        for login_session_id in repo.linked_sessions(session, browser.sid):
            token_rows.end_session(session, login_session_id, now)
    sign_out(provider, browser)


def _done(fields: dict[str, str], client: ClientView | None) -> Response:
    target = fields.get("post_logout_redirect_uri")
    if target:
        query = urlencode({"state": fields["state"]}) if fields.get("state") else ""
        sep = "&" if "?" in target else "?"
        return clear_cookie(RedirectResponse(target + (sep + query if query else ""), status_code=303))
    return clear_cookie(render("message.html", title="Signed out", message="You are signed out of idgate."
                               + (f" You can close this page and return to {client.name}." if client else "")))


@router.api_route("/end_session", methods=["GET", "POST"])
async def end_session(request: Request) -> Response:
    provider = provider_of(request)
    browser = await run(load_browser, provider, request)
    try:
        if request.method == "POST":
            params = await read_params(request, provider.settings.max_body_bytes, allow_json=False)
        else:
            params = _single(parse_qsl(request.url.query, keep_blank_values=True, max_num_fields=32))
        fields, client, hint_sub = await run(_check, provider, params)
    except (PageError, InvalidRequest) as exc:
        return error_page(exc, browser=browser, title="Sign-out request not valid")
    if browser is None or browser.user_id is None:
        return _done(fields, client)  # nobody signed in here: nothing to end
    if hint_sub is not None and hint_sub == browser.user_id:
        await run(end_browser, provider, browser)
        return _done(fields, client)
    target = fields.get("post_logout_redirect_uri")
    return render("logout.html", browser=browser, title="Sign out?", fields=fields,
                  client_name=client.name if client else None, form_targets=(target,) if target else ())


@router.post("/end_session/confirm")
async def confirm(request: Request) -> Response:
    provider = provider_of(request)
    browser = await run(load_browser, provider, request)
    try:
        params = await read_params(request, provider.settings.max_body_bytes, allow_json=False)
        check_csrf(browser, params.get("csrf_token"))
        fields, client, _ = await run(_check, provider, {k: params.get(k, "") for k in _FIELDS})
    except (PageError, CsrfError, InvalidRequest) as exc:
        return error_page(exc, browser=browser, title="Sign-out request not valid")
    if params.get("decision") != "logout":
        return render("message.html", browser=browser, title="Still signed in",
                      message="You are still signed in. You can close this page.")
    if browser is not None:
        await run(end_browser, provider, browser)
    return _done(fields, client)
