"""Interactions: an authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2) waiting for the
user to sign in and consent, kept server-side while the pages under ``/interaction/{id}`` run.

An interaction is the validated request stored server-side, bound to the browser session that
started it; its id in the URL is useless from another browser. Sign-in replaces the session
(new cookie). Besides ``authorize`` interactions there are ``account`` ones: /account signs the
user in through the same pages, then comes back (:func:`start_account_sign_in`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from idgate import clock, ids
from idgate.errors import InvalidRequest, TooManyRequests
from idgate.provider import Provider
from idgate.server.deps import provider_of
from idgate.server.forms import read_params
from idgate.server.pages import Browser, CsrfError, check_csrf, ensure_browser, error_page, load_browser, run, \
    set_cookie, sign_in
from idgate.services.authorize_request import AuthRequest, PageError
from idgate.services.clients.registry import find_client
from idgate.services.clients.view import ClientView
from idgate.store import clients as repo
from idgate.store.db import transaction
from idgate.store.models_oauth import Interaction

INTERACTION_TTL = timedelta(minutes=10)


class LostInteraction(PageError):
    status_code = 400
    description = ("This sign-in page has expired or was opened in another browser. Go back to the app "
                   "and start again.")


def start_interaction(provider: Provider, browser: Browser, kind: str, params: str) -> str:
    interaction_id = ids.jti() + ids.jti()
    now = clock.utcnow()
    with transaction(provider.sessions) as session:
        repo.add_interaction(session, Interaction(id_hash=ids.token_hash(interaction_id), session_hash=browser.id_hash,
                                                  kind=kind, params=params, created_at=now,
                                                  expires_at=now + INTERACTION_TTL))
    return interaction_id


def find_interaction(provider: Provider, browser: Browser | None, interaction_id: str) -> Interaction:
    if browser is None or not interaction_id or len(interaction_id) > 64:
        raise LostInteraction(detail="no session or bad interaction id")
    with transaction(provider.sessions) as session:
        row = repo.find_interaction(session, ids.token_hash(interaction_id))
        if row is None or row.session_hash != browser.id_hash or clock.utcnow() >= row.expires_at:
            raise LostInteraction(detail="interaction unknown, expired, or of another browser session")
        session.expunge(row)
        return row


def update_interaction(provider: Provider, interaction_id: str, **values: object) -> None:
    with transaction(provider.sessions) as session:
        row = repo.find_interaction(session, ids.token_hash(interaction_id))
        if row is not None:
            for key, value in values.items():
                setattr(row, key, value)


def end_interaction(provider: Provider, interaction_id: str) -> None:
    with transaction(provider.sessions) as session:
        repo.delete_interaction(session, ids.token_hash(interaction_id))


def start_account_sign_in(provider: Provider, request: Request, *, reauth: bool = False,
                          return_to: str = "/account") -> Response:
    """Used by /account (and /device): sign in first, then come back to ``return_to``.
    ``reauth``: even a signed-in user signs in again (a change that needs a recent sign-in,
    such as adding a passkey)."""
    browser = ensure_browser(provider, request)
    params = json.dumps({"reauth": True} if reauth else {"return": return_to} if return_to != "/account" else {})
    interaction_id = start_interaction(provider, browser, "account", params)
    return set_cookie(RedirectResponse(f"/interaction/{interaction_id}", status_code=303), browser)


def account_reauth(row: Interaction) -> bool:
    """An /account interaction that asks a signed-in user to sign in again."""
    return row.kind == "account" and bool(_params(row).get("reauth"))


def account_return(row: Interaction) -> str:
    """Where an /account interaction leads after sign-in: idgate's own pages only (never a URL
    from the request: no open redirect)."""
    target = _params(row).get("return")
    if isinstance(target, str) and target.startswith(RETURN_PATHS) and "//" not in target and "\\" not in target:
        return target
    return "/account"


RETURN_PATHS = ("/account", "/device")


def _params(row: Interaction) -> dict[str, object]:
    try:
        value = json.loads(row.params or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass
class PostedForm:
    """A form posted to an interaction page, after the checks every such form needs."""

    provider: Provider
    browser: Browser
    params: dict[str, str]
    row: Interaction


async def read_posted_form(request: Request, interaction_id: str) -> PostedForm | Response:
    """Size/type-checked form, the interaction it belongs to, and its CSRF token: or an error page."""
    provider = provider_of(request)
    browser = await run(load_browser, provider, request)
    try:
        params = await read_params(request, provider.settings.max_body_bytes, allow_json=False)
        row = await run(find_interaction, provider, browser, interaction_id)
        check_csrf(browser, params.get("csrf_token"))
    except (PageError, CsrfError, InvalidRequest) as exc:
        return error_page(exc, browser=browser)
    assert browser is not None  # check_csrf refuses a request without a browser session
    return PostedForm(provider, browser, params, row)


async def request_and_client(provider: Provider, row: Interaction) -> tuple[AuthRequest | None, ClientView | None]:
    req = AuthRequest.from_json(row.params) if row.kind == "authorize" else None
    client = await run(find_client, provider.sessions, req.client_id) if req else None
    return req, client


def retry_later(response: Response, exc: TooManyRequests) -> Response:
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def signed_in(provider: Provider, request: Request, browser: Browser, interaction_id: str, user_id: str,
                    amr: str) -> Response:
    fresh = await run(sign_in, provider, request, browser, user_id, clock.now(), amr)
    await run(lambda: update_interaction(provider, interaction_id, login_done=True, pending_user_id=None,
                                         pending_since=None, pending_step=None))
    return set_cookie(RedirectResponse(f"/interaction/{interaction_id}", status_code=303), fresh)
