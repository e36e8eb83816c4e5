"""The interaction state machine of the authorization code flow (OIDC Core §3.1.2.3-4): what
the user still has to do (log in, consent) before a code is issued, and the consent records."""

from __future__ import annotations

from idgate import clock
from idgate.provider import Provider
from idgate.services.authorize_request import AuthRequest
from idgate.services.clients.view import ClientView
from idgate.services.oidc import ACR_PHISHING_RESISTANT, OIDC_SCOPES, PASSKEY_AMR
from idgate.store import clients as repo
from idgate.store import users
from idgate.store.db import transaction
from idgate.store.users import UserView


def grantable_scope(scope: tuple[str, ...], user: UserView) -> list[str]:
    """Identity scopes as asked; permission scopes only if the user holds the permission."""
    return [s for s in scope if s in OIDC_SCOPES or s in user.permissions]


def passkey_required(req: AuthRequest | None, client: ClientView | None) -> bool:
    """The client asked for a passkey (``acr_values=phr``) or is registered as requiring one."""
    return bool(req is not None and ACR_PHISHING_RESISTANT in req.acr_values) or bool(client and client.require_passkey)


def used_passkey(amr: str | None) -> bool:
    return bool(PASSKEY_AMR & set((amr or "").split()))


def next_step(req: AuthRequest, client: ClientView, user: UserView | None, auth_time: int | None, now: int, *,
              login_done: bool, consent_done: bool, consented: set[str], amr: str | None = None) -> str | None:
    """What the user still has to do: 'login', 'consent', or None (issue the code). A client
    that requires a passkey steps a session without one up to a passkey sign-in."""
    if user is None or auth_time is None:
        return "login"
    if passkey_required(req, client) and not used_passkey(amr):
        return "login"
    if not login_done:
        if "login" in req.prompt:
            return "login"
        if req.max_age is not None and (req.max_age == 0 or now - auth_time > req.max_age):
            return "login"
    if consent_done:
        return None
    if "consent" in req.prompt:
        return "consent"
    if not client.skip_consent and not set(grantable_scope(req.scope, user)) <= consented:
        return "consent"
    return None


def load_user(provider: Provider, user_id: str | None) -> UserView | None:
    if user_id is None:
        return None
    with transaction(provider.sessions) as session:
        user = users.get(session, user_id)
        return None if user is None or user.disabled else users.view(user)


def consented(provider: Provider, user_id: str, client_id: str) -> set[str]:
    with transaction(provider.sessions) as session:
        return repo.consented_scope(session, user_id, client_id)


def record_consent(provider: Provider, user: UserView, req: AuthRequest) -> None:
    with transaction(provider.sessions) as session:
        repo.record_consent(session, user.id, req.client_id, set(grantable_scope(req.scope, user)), clock.utcnow())
