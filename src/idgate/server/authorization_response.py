"""The authorization response, sent to the client's redirect URI (RFC 6749 §4.1.2, OIDC Core
§3.1.2.5) - or its error response (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6).

The parameters travel in the query of a 303 redirect (the default ``query`` response mode) or,
for ``response_mode=form_post`` (OAuth 2.0 Form Post Response Mode), in an auto-submitting
form; they carry ``iss`` (RFC 9207), see :func:`idgate.services.authorize_request.response_params`.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi.responses import RedirectResponse, Response

from idgate import clock
from idgate.provider import Provider
from idgate.server.pages import Browser, render, set_cookie
from idgate.services import authorization_codes, authorize_request
from idgate.services.authorize_request import AuthorizeError, AuthRequest
from idgate.store.users import UserView


def to_client(issuer: str, redirect_uri: str, mode: str, params: dict[str, str],
              browser: Browser | None = None) -> Response:
    if mode == "form_post":
        # OAuth 2.0 Form Post Response Mode: an auto-submitting form (one script file, no inline
        # script), with a button for browsers without JavaScript.
        return render("form_post.html", browser=browser, action=redirect_uri, fields=params,
                      form_targets=(redirect_uri,), script=True, title="Returning to the app")
    sep = "&" if "?" in redirect_uri else "?"
    return set_cookie(RedirectResponse(redirect_uri + sep + urlencode(params), status_code=303), browser)


def error_to_client(issuer: str, err: AuthorizeError, browser: Browser | None = None) -> Response:
    return to_client(issuer, err.redirect_uri, err.response_mode, authorize_request.error_params(issuer, err), browser)


def code_to_client(provider: Provider, req: AuthRequest, user: UserView, browser: Browser) -> Response:
    """Issue the authorization code for ``req`` (signed in, consented) and send it to the client."""
    code = authorization_codes.issue_code(provider, req, user, auth_time=browser.auth_time or clock.now(), amr=browser.amr,
                           sid=browser.sid)
    params = authorize_request.response_params(provider.settings.issuer, req.state, code=code)
    return to_client(provider.settings.issuer, req.redirect_uri, req.response_mode, params, browser)
