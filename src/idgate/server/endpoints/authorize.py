"""``GET|POST /authorize``: the authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2).

    /authorize -> (signed in and consented?) -> 303 to the client with code, state, iss
               -> otherwise 303 /interaction/{id}: the sign-in page, then the consent page

The pages behind ``/interaction/{id}`` are :mod:`idgate.server.endpoints.interaction` (sign-in,
second-factor code, consent) and :mod:`idgate.server.endpoints.interaction_mfa` (setting up a
second factor during sign-in); the answer to the client is
:mod:`idgate.server.authorization_response`.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from idgate import clock
from idgate.errors import InvalidRequest
from idgate.provider import Provider
from idgate.server.authorization_response import code_to_client, error_to_client
from idgate.server.deps import provider_of
from idgate.server.forms import read_params
from idgate.server.interactions import start_interaction
from idgate.server.pages import ensure_browser, error_page, load_browser, run, set_cookie
from idgate.services import authorize_request, interaction_flow
from idgate.services.authorize_request import AuthorizeError, PageError

router = APIRouter(include_in_schema=False)
MAX_QUERY = 8192


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
        return error_to_client(issuer, err)
    browser = await run(load_browser, provider, request)
    user = await run(interaction_flow.load_user, provider, browser.user_id) if browser else None
    now = clock.now()
    given = await run(interaction_flow.consented, provider, user.id, client.client_id) if user else set()
    step = interaction_flow.next_step(req, client, user, browser.auth_time if browser else None, now, login_done=False,
                          consent_done=False, consented=given, amr=browser.amr if browser else None)
    if "none" in req.prompt:
        # OIDC Core §3.1.2.6: no page may be shown; say what would have been needed.
        if step is not None:
            error = "login_required" if step == "login" else "consent_required"
            text = "The user is not signed in." if step == "login" else "The user has not consented."
            return error_to_client(issuer, AuthorizeError(error, text, redirect_uri=req.redirect_uri,
                                                          state=req.state, response_mode=req.response_mode))
    if step is None and browser is not None and user is not None:
        return await run(code_to_client, provider, req, user, browser)
    browser = browser or await run(ensure_browser, provider, request)
    interaction_id = await run(start_interaction, provider, browser, "authorize", req.to_json())
    return set_cookie(RedirectResponse(f"/interaction/{interaction_id}", status_code=303), browser)
