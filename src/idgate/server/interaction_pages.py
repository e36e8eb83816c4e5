"""The pages of an interaction (:mod:`idgate.server.interactions`): sign-in, the second-factor
code, setting up a second factor, the recovery codes, and consent (OIDC Core §3.1.2.3-§3.1.2.4).

The login and consent forms POST to idgate and are answered with a 303, and their page CSP
allows ``form-action`` only to idgate and the client's registered redirect URI origin (Chrome
applies ``form-action`` to the redirects that follow a form submission): ``form_targets``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi.responses import Response

from idgate.provider import Provider
from idgate.server.pages import Browser, render, run
from idgate.services import interaction_flow
from idgate.services import interaction_mfa as steps
from idgate.services.authorize_request import AuthRequest
from idgate.services.clients.view import ClientView
from idgate.services.oidc import OIDC_SCOPES
from idgate.store.models_oauth import Interaction
from idgate.store.users import UserView

SCOPE_TEXT = {
    "openid": "Confirm who you are to the app (a user id unique to you)",
    "profile": "See your name and username",
    "email": "See your email address",
    "offline_access": "Stay signed in to the app when you are not using it",
}


def scope_lines(scope: list[str]) -> list[str]:
    """What each scope lets the app do, in words (the consent and device pages)."""
    lines = [SCOPE_TEXT[s] for s in scope if s in SCOPE_TEXT]
    lines += [f"Act for you with the permission “{s}”" for s in scope if s not in OIDC_SCOPES]
    return lines


def _host(uri: str) -> str:
    parts = urlsplit(uri)
    return parts.netloc or f"{parts.scheme}:"


def login_page(req: AuthRequest | None, client: ClientView | None, browser: Browser, interaction_id: str, *,
               username: str = "", error: str | None = None, status: int = 200) -> Response:
    """The sign-in page: username and password, and "Sign in with a passkey" (also offered in
    the username field's autofill). A client that demands a passkey gets the passkey only."""
    targets = (req.redirect_uri,) if req else ()
    return render("login.html", status=status, browser=browser, form_targets=targets, title="Sign in", script=True,
                  action=f"/interaction/{interaction_id}/login", client_name=client.name if client else None,
                  username=username or (req.login_hint if req else "") or "", error=error,
                  passkey_base=f"/interaction/{interaction_id}/passkey",
                  passkey_only=interaction_flow.passkey_required(req, client))


def otp_page(req: AuthRequest | None, client: ClientView | None, browser: Browser, interaction_id: str, *,
             factors: steps.SecondFactors = steps.TOTP_ONLY, error: str | None = None, status: int = 200) -> Response:
    """The second-factor step: the authenticator app's code, a passkey, or the choice of both."""
    targets = (req.redirect_uri,) if req else ()
    return render("otp.html", status=status, browser=browser, form_targets=targets, title="Two-step verification",
                  action=f"/interaction/{interaction_id}/otp", client_name=client.name if client else None, error=error,
                  script=factors.passkey, totp=factors.totp, passkey=factors.passkey,
                  passkey_base=f"/interaction/{interaction_id}/passkey")


async def enrol_page(provider: Provider, req: AuthRequest | None, client: ClientView | None, browser: Browser,
                     interaction_id: str, row: Interaction, *, error: str | None = None,
                     status: int = 200) -> Response:
    """The set-up step: QR code, key in groups, a code form; the login page if it is gone."""
    step = await run(steps.enrolment_of, provider, row)
    if step is None:
        await run(steps.abandon, provider, interaction_id)
        return login_page(req, client, browser, interaction_id, status=400,
                          error="Setting up two-step verification was interrupted. Sign in again.")
    base = f"/interaction/{interaction_id}/mfa"
    return render("mfa_enrol.html", status=status, browser=browser, title="Set up two-step verification",
                  username=step.username, key=step.grouped_key, issuer=provider.settings.mfa_issuer_label,
                  qr_src=base + "/qr.svg", action=base + "/confirm", client_name=client.name if client else None,
                  sign_in=True, error=error)


def codes_page(req: AuthRequest | None, browser: Browser, interaction_id: str, codes: tuple[str, ...]) -> Response:
    """The recovery codes (once; empty when the page is shown again) and "Continue"."""
    targets = (req.redirect_uri,) if req else ()  # Continue leads, through 303s, to the client
    return render("mfa_codes.html", browser=browser, form_targets=targets, title="Two-step verification is on",
                  codes=codes, first=True, continue_action=f"/interaction/{interaction_id}/mfa/continue")


def consent_page(req: AuthRequest, client: ClientView, user: UserView, browser: Browser,
                 interaction_id: str) -> Response:
    """What the app asks for (the scope the user may grant), "Allow" or "Deny"."""
    scope = interaction_flow.grantable_scope(req.scope, user)
    return render("consent.html", browser=browser, form_targets=(req.redirect_uri,), title="Allow access?",
                  action=f"/interaction/{interaction_id}/consent", client_name=client.name,
                  client_id=client.client_id, redirect_host=_host(req.redirect_uri), username=user.username,
                  lines=scope_lines(scope))
