"""The authorization request (RFC 6749 §4.1.1, OAuth 2.1, RFC 7636 PKCE, RFC 9207 ``iss``):
parsing and validation, and the parameters of the authorization response. Plain functions, no HTTP.

Authorization requests are checked in the order RFC 6749 §4.1.2.1 needs: an unknown client or
a redirect URI that is not registered *exactly* (a loopback IP one: up to its port, RFC 8252
§7.3) is shown to the user and never redirected to; everything else is reported to the (now
trusted) redirect URI with ``state`` and ``iss``.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

from idgate.errors import IdgateError, InvalidScope
from idgate.provider import Provider
from idgate.services.client_tokens import client_audience
from idgate.services.clients.view import ClientView
from idgate.services.clients.registry import get_client
from idgate.services.clients.redirect_uris import redirect_uri_registered
from idgate.store.db import transaction
from idgate.tokens.access import parse_scope

RESPONSE_MODES = ("query", "form_post")
PROMPTS = ("none", "login", "consent")
_PKCE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # base64url(SHA-256) without padding
_JKT = re.compile(r"^[A-Za-z0-9_-]{43}$")  # RFC 7638 SHA-256 thumbprint, base64url (RFC 9449 §10)
MAX_STATE = 2048
MAX_NONCE = 512


class PageError(IdgateError):
    """Shown on idgate's own error page, never sent to a redirect URI (RFC 6749 §4.1.2.1)."""

    error = "invalid_request"
    status_code = 400
    description = "The request is invalid."


@dataclass(frozen=True)
class AuthRequest:
    client_id: str
    redirect_uri: str
    scope: tuple[str, ...]
    code_challenge: str
    audience: str
    state: str | None = None
    nonce: str | None = None
    response_mode: str = "query"
    prompt: tuple[str, ...] = ()
    max_age: int | None = None
    login_hint: str | None = None
    dpop_jkt: str | None = None  # RFC 9449 §10: the key the code will be redeemable with
    acr_values: tuple[str, ...] = ()  # OIDC Core §3.1.2.1; "phr" asks for a passkey sign-in

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> AuthRequest:
        data = json.loads(text)
        data["scope"], data["prompt"] = tuple(data["scope"]), tuple(data["prompt"])
        data["acr_values"] = tuple(data.get("acr_values") or ())
        return cls(**data)


class AuthorizeError(Exception):
    """An RFC 6749 §4.1.2.1 error, to be sent to a registered redirect URI."""

    def __init__(self, error: str, description: str, *, redirect_uri: str, state: str | None,
                 response_mode: str = "query") -> None:
        super().__init__(f"{error}: {description}")
        self.error, self.description = error, description
        self.redirect_uri, self.state, self.response_mode = redirect_uri, state, response_mode


def response_params(issuer: str, state: str | None, **values: str) -> dict[str, str]:
    """Authorization response parameters; ``iss`` always (RFC 9207 §2)."""
    params = dict(values)
    if state is not None:
        params["state"] = state
    params["iss"] = issuer
    return params


def error_params(issuer: str, err: AuthorizeError) -> dict[str, str]:
    return response_params(issuer, err.state, error=err.error, error_description=err.description)


# -- the authorization request ---------------------------------------------------------------


def parse_request(provider: Provider, pairs: list[tuple[str, str]]) -> tuple[AuthRequest, ClientView]:
    """Validate an authorization request; raises PageError or AuthorizeError."""
    params: dict[str, str] = {}
    duplicates: set[str] = set()
    for key, value in pairs:
        if key in params:
            duplicates.add(key)
        params[key] = value
    if {"client_id", "redirect_uri"} & duplicates:
        raise PageError("The request repeats client_id or redirect_uri.")
    client_id = params.get("client_id", "")
    with transaction(provider.sessions) as session:
        client = get_client(session, client_id) if client_id else None
    if client is None:
        raise PageError("The application that sent you here is not registered with this server.",
                        detail=f"unknown client {client_id[:64]!r}")
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri_registered(client, redirect_uri):
        # Exact string comparison with the registered URIs: no prefix, no wildcard, no open redirect;
        # only a loopback IP redirect URI may differ, and only in its port (RFC 8252 §7.3).
        raise PageError("The application's return address (redirect_uri) is missing or not registered, so "
                        "idgate will not send you there.", detail=f"redirect_uri not registered for {client_id}")
    state = params.get("state")
    mode = params.get("response_mode") or "query"

    def fail(error: str, description: str) -> AuthorizeError:
        return AuthorizeError(error, description, redirect_uri=redirect_uri, state=state,
                              response_mode=mode if mode in RESPONSE_MODES else "query")

    if mode not in RESPONSE_MODES:
        raise fail("invalid_request", "response_mode must be query or form_post.")
    if duplicates:
        raise fail("invalid_request", f"Parameter {sorted(duplicates)[0]!r} appears more than once.")
    if "request" in params:
        raise fail("request_not_supported", "Request objects are not supported.")
    if "request_uri" in params:
        raise fail("request_uri_not_supported", "request_uri is not supported.")
    if state is not None and len(state) > MAX_STATE:
        raise fail("invalid_request", "state is too long.")
    response_type = params.get("response_type")
    if not response_type:
        raise fail("invalid_request", "response_type is required.")
    if response_type != "code":
        # OAuth 2.1 / RFC 9700 §2.1.2: no implicit (token) and no hybrid responses.
        raise fail("unsupported_response_type", "Only response_type=code is supported.")
    if "authorization_code" not in client.grant_types:
        raise fail("unauthorized_client", "This client may not use the authorization code flow.")
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if not challenge:
        raise fail("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256.")
    if method != "S256":
        # RFC 7636 §4.3 makes a missing method mean "plain"; plain is refused (RFC 9700 §2.1.1).
        raise fail("invalid_request", "code_challenge_method must be S256; plain is not accepted.")
    if not _PKCE.fullmatch(challenge):
        raise fail("invalid_request", "code_challenge must be the base64url SHA-256 of the code_verifier.")
    try:
        requested = parse_scope(params.get("scope"))
    except InvalidScope:
        raise fail("invalid_scope", "The scope parameter is malformed.") from None
    scope = tuple(requested) if requested is not None else client.scopes
    if not scope or any(s not in client.scopes for s in scope):
        raise fail("invalid_scope", "The application asked for a scope it is not registered for.")
    nonce = params.get("nonce")
    if nonce is not None and not 0 < len(nonce) <= MAX_NONCE:
        raise fail("invalid_request", "nonce is empty or too long.")
    prompt = tuple(dict.fromkeys((params.get("prompt") or "").split()))
    if any(p not in PROMPTS for p in prompt):
        raise fail("invalid_request", "prompt may be none, login or consent.")
    if "none" in prompt and len(prompt) > 1:
        raise fail("invalid_request", "prompt=none cannot be combined with other values.")
    max_age: int | None = None
    if params.get("max_age") not in (None, ""):
        raw = params["max_age"]
        if not raw.isdigit() or len(raw) > 9:
            raise fail("invalid_request", "max_age must be a non-negative number of seconds.")
        max_age = int(raw)
    login_hint = params.get("login_hint") or None
    if login_hint is not None and len(login_hint) > 128:
        raise fail("invalid_request", "login_hint is too long.")
    dpop_jkt = params.get("dpop_jkt") or None
    if dpop_jkt is not None and not _JKT.fullmatch(dpop_jkt):
        raise fail("invalid_request", "dpop_jkt must be the base64url SHA-256 JWK thumbprint of the DPoP key.")
    acr_values = tuple(dict.fromkeys((params.get("acr_values") or "").split()))
    if len(acr_values) > 8 or any(len(v) > 64 for v in acr_values):
        raise fail("invalid_request", "acr_values is too long.")
    try:
        audience = client_audience(provider, client, params.get("resource") or params.get("audience"))
    except IdgateError:
        raise fail("invalid_target", "The requested resource is not allowed for this application.") from None
    return AuthRequest(client_id=client.client_id, redirect_uri=redirect_uri, scope=scope, code_challenge=challenge,
                       audience=audience, state=state, nonce=nonce, response_mode=mode, prompt=prompt,
                       max_age=max_age, login_hint=login_hint, dpop_jkt=dpop_jkt,
                       acr_values=acr_values), client
