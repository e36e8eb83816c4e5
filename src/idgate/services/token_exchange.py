"""Token exchange (RFC 8693): a backend that received a user's access token trades it for one
addressed to the next service it calls on the user's behalf.

Rules, each a test in tests/oauth/test_oauth_token_exchange.py:

* Only a confidential client registered with the grant, and only along a path an operator
  allowed (:class:`~idgate.store.models_exchange.TokenExchangePolicy`): this client, subject
  tokens addressed to ``subject_audience``, new tokens for ``audience``. Nothing is allowed
  by default.
* The subject token (§2.1) is an idgate access token, checked by the same verifier as every
  other (signature, ``typ`` at+jwt, issuer, expiry, deny-list) for a user who still exists and
  is enabled. A DPoP-bound token is refused: it belongs to its holder's key, and whoever
  forwards it is not that holder (RFC 9449 §7.2).
* ``actor_token`` (§2.1, §4.1): the calling client's own token; the new token then says who acts
  in ``act`` (nested when the subject token already had one: a delegation chain).
* Scope only narrows (§2.1): what the subject token had, or less. The new token lives no longer
  than the subject token. ``requested_token_type`` may only be an access token (§3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from idgate import clock, events
from idgate.errors import Conflict, InvalidGrant, InvalidRequest, InvalidScope, InvalidTarget, InvalidToken, \
    NotFound, UnauthorizedClient
from idgate.provider import Provider
from idgate.services import audiences
from idgate.services.access_verifier import served_verifier
from idgate.services.client_tokens import TokenSet, third_party_access_token
from idgate.services.clients.view import ClientView
from idgate.store import users
from idgate.store.db import transaction
from idgate.store.models_exchange import TokenExchangePolicy
from idgate.tokens.access import parse_scope, token_type

EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # §3
MAX_ACT_DEPTH = 5  # a longer delegation chain is more likely a loop than a design


@dataclass(frozen=True)
class Policy:
    client_id: str
    subject_audience: str
    audience: str

    def as_dict(self) -> dict[str, str]:
        return {"client_id": self.client_id, "subject_audience": self.subject_audience, "audience": self.audience}


@dataclass(frozen=True)
class ExchangedToken(TokenSet):
    """§2.2.1: the response names the type of the issued token."""

    issued_token_type: str = ACCESS_TOKEN_TYPE

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "issued_token_type": self.issued_token_type}


# --- the policy (admin API and CLI) -------------------------------------------------------------

def allow(provider: Provider, client_id: str, subject_audience: str, audience: str, *, actor: str | None) -> Policy:
    """Let ``client_id`` exchange tokens for ``subject_audience`` into tokens for ``audience``."""
    from idgate.services.clients.registry import get_client

    # Read the registered audiences afresh (an admin change, not the token path's 1 s cache).
    served = {*provider.settings.allowed_audiences, *(a.audience for a in audiences.list_all(provider.sessions))}
    for name, value in (("subject audience", subject_audience), ("audience", audience)):
        if value not in served:
            raise InvalidRequest(f"The {name} {value[:200]!r} is not an audience this issuer serves "
                                 "(idgate audience add URL).")
    with transaction(provider.sessions) as session:
        client = get_client(session, client_id)
        if client is None:
            raise NotFound(f"No client {client_id[:128]!r}.")
        if client.public or EXCHANGE_GRANT not in client.grant_types:
            raise InvalidRequest(f"Client {client_id} needs to be confidential and registered with the grant "
                                 f"{EXCHANGE_GRANT}.")
        if session.get(TokenExchangePolicy, (client_id, subject_audience, audience)) is not None:
            raise Conflict("That exchange is allowed already.")
        session.add(TokenExchangePolicy(client_id=client_id, subject_audience=subject_audience, audience=audience,
                                        created_by=actor))
        events.record(None, "exchange_policy.added", "success", session=session, actor=actor, client_id=client_id,
                      subject_audience=subject_audience, aud=audience)
    return Policy(client_id, subject_audience, audience)


def disallow(provider: Provider, client_id: str, subject_audience: str, audience: str, *, actor: str | None) -> None:
    with transaction(provider.sessions) as session:
        gone = session.execute(delete(TokenExchangePolicy).where(
            TokenExchangePolicy.client_id == client_id, TokenExchangePolicy.subject_audience == subject_audience,
            TokenExchangePolicy.audience == audience)).rowcount  # type: ignore[attr-defined]
        if not gone:
            raise NotFound("No such exchange is allowed.")
        events.record(None, "exchange_policy.removed", "success", session=session, actor=actor, client_id=client_id,
                      subject_audience=subject_audience, aud=audience)


def policies(provider: Provider, client_id: str | None = None) -> list[Policy]:
    query = select(TokenExchangePolicy).order_by(TokenExchangePolicy.client_id, TokenExchangePolicy.audience)
    if client_id is not None:
        query = query.where(TokenExchangePolicy.client_id == client_id)
    with transaction(provider.sessions) as session:
        return [Policy(r.client_id, r.subject_audience, r.audience) for r in session.scalars(query)]


# --- the grant ----------------------------------------------------------------------------------

def _param(params: dict[str, str], name: str, *, required: bool = False) -> str | None:
    value = params.get(name) or None
    if required and value is None:
        raise InvalidRequest(f"The '{name}' parameter is required.")
    return value


def _verified(provider: Provider, token: str, what: str) -> dict[str, Any]:
    try:
        return served_verifier(provider).verify(token)
    except InvalidToken as exc:
        reason = "bound to a DPoP key" if exc.reason == "dpop_bound_token" else f"not accepted ({exc.reason})"
        raise InvalidGrant(f"The {what} is {reason}.", detail=exc.reason) from None


def _target(provider: Provider, client: ClientView, params: dict[str, str], subject_audience: str) -> str:
    """§2.1 ``audience`` / ``resource`` (RFC 8707): one target, allowed for this client by policy."""
    audience, resource = _param(params, "audience"), _param(params, "resource")
    if audience and resource and audience != resource:
        raise InvalidTarget("Send one target: audience or resource.")
    wanted = audience or resource
    allowed = [p.audience for p in policies(provider, client.client_id) if p.subject_audience == subject_audience]
    if wanted is None:
        if len(allowed) != 1:
            raise InvalidTarget("Name the service the new token is for (audience or resource).")
        return allowed[0]
    if wanted not in allowed:
        raise InvalidTarget(f"Client {client.client_id} may not exchange tokens for {subject_audience} into "
                            "tokens for that audience.", detail=wanted[:200])
    return wanted


def _act(provider: Provider, client: ClientView, params: dict[str, str], subject: dict[str, Any]) -> dict[str, Any] | None:
    """§4.1: who acts for the subject; the subject token's own ``act`` nests inside (§4.1's chain)."""
    actor_token = _param(params, "actor_token")
    actor_type = _param(params, "actor_token_type")
    if actor_token is None:
        if actor_type is not None:
            raise InvalidRequest("actor_token_type without actor_token.")
        return subject.get("act") if isinstance(subject.get("act"), dict) else None
    if actor_type != ACCESS_TOKEN_TYPE:
        raise InvalidRequest(f"actor_token_type must be {ACCESS_TOKEN_TYPE}.")
    actor = _verified(provider, actor_token, "actor token")
    if actor.get("client_id") != client.client_id:
        raise InvalidGrant("The actor token must be one issued to the calling client.")
    act: dict[str, Any] = {"sub": actor["sub"]}
    prior, depth = subject.get("act"), 1
    if isinstance(prior, dict):
        act["act"] = prior
        while isinstance(prior, dict):
            depth, prior = depth + 1, prior.get("act")
    if depth > MAX_ACT_DEPTH:
        raise InvalidGrant(f"A delegation chain is at most {MAX_ACT_DEPTH} actors long.")
    return act


def exchange(provider: Provider, client: ClientView, params: dict[str, str], now: int | None = None, *,
             dpop_jkt: str | None = None) -> ExchangedToken:
    """RFC 8693 §2.1-2.2: the new access token, or the §2.2.2 error."""
    if client.public or EXCHANGE_GRANT not in client.grant_types:
        raise UnauthorizedClient(detail=f"{client.client_id} may not use token exchange")
    issued = clock.now() if now is None else now
    subject_token = _param(params, "subject_token", required=True)
    if _param(params, "subject_token_type", required=True) != ACCESS_TOKEN_TYPE:
        raise InvalidRequest(f"subject_token_type must be {ACCESS_TOKEN_TYPE}: idgate exchanges its access tokens.")
    requested_type = _param(params, "requested_token_type")
    if requested_type not in (None, ACCESS_TOKEN_TYPE):
        raise InvalidRequest(f"requested_token_type may only be {ACCESS_TOKEN_TYPE}.")
    subject = _verified(provider, subject_token or "", "subject token")
    subject_audience = subject["aud"] if isinstance(subject["aud"], str) else str(subject["aud"][0])
    audience = _target(provider, client, params, subject_audience)
    act = _act(provider, client, params, subject)
    had = str(subject.get("scope", "")).split()
    asked = parse_scope(params.get("scope"))
    if asked is not None and any(s not in had for s in asked):
        raise InvalidScope("A token exchange can only narrow the scope.")
    scope = list(asked) if asked is not None else had
    with transaction(provider.sessions) as session:
        row = users.get(session, str(subject["sub"]))
        if row is None or row.disabled:
            raise InvalidGrant("The subject token's user is gone or disabled.")
        user = users.view(row)
    amr = [str(a) for a in subject.get("amr", ["pwd"])]
    token, claims = third_party_access_token(provider, user, client, scope, audience, issued,
                                             auth_time=int(subject.get("auth_time", issued)), amr=amr,
                                             dpop_jkt=dpop_jkt, act=act, not_after=int(subject["exp"]))
    events.record(provider.sessions, "token.exchanged", "success", actor=user.id, client_id=client.client_id,
                  grant="token_exchange", subject_jti=subject.get("jti"), subject_aud=subject_audience,
                  act_sub=act.get("sub") if act else None, aud=audience, scope=" ".join(scope), jti=claims["jti"])
    return ExchangedToken(access_token=token, expires_in=int(claims["exp"]) - issued, scope=" ".join(scope),
                          token_type=token_type(dpop_jkt))
