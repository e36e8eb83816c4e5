"""The rules for registering a client: its metadata (RFC 7591 §2) checked before it is stored.

A registration request (:class:`ClientSpec`, from the CLI or the admin API) names its grant
types (RFC 6749 §4), its token endpoint authentication method (RFC 6749 §2.3, RFC 7523 §2.2 for
``private_key_jwt``), its redirect URIs (:mod:`idgate.services.clients.redirect_uris`), its
scopes, the audiences its tokens may name (RFC 8707) and its token lifetimes;
:func:`validate` refuses what idgate does not support and fills in the defaults.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from idgate.config.schema import ACCESS_TTL_CEILING, REFRESH_ABSOLUTE_CEILING
from idgate.errors import InvalidRequest
from idgate.jose.algorithms import ASYMMETRIC_ALGS
from idgate.jose.pubkeys import load_jwks
from idgate.services.clients.first_party import FIRST_PARTY_CLIENT_ID
from idgate.services.clients.redirect_uris import check_redirect_uri
from idgate.tokens.access import parse_scope

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials",
               "urn:ietf:params:oauth:grant-type:device_code",  # RFC 8628
               "urn:ietf:params:oauth:grant-type:token-exchange")  # RFC 8693
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:~-]{1,128}$")
MAX_URIS = 20


@dataclass
class ClientSpec:
    """A registration request, from the CLI or the admin API."""

    client_id: str
    grant_types: list[str] = field(default_factory=lambda: ["authorization_code", "refresh_token"])
    redirect_uris: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    public: bool = False
    name: str = ""
    auth_method: str | None = None
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    audiences: list[str] = field(default_factory=list)
    jwks: dict[str, Any] | None = None
    introspect: bool = False
    skip_consent: bool = False
    access_token_ttl: int | None = None
    refresh_token_ttl: int | None = None
    # RFC 9449 §5.2; None: the server's dpop_bound_access_tokens_default.
    dpop_bound_access_tokens: bool | None = None
    require_passkey: bool = False  # every sign-in for this client uses a passkey (acr "phr")
    backchannel_logout_uri: str | None = None  # OIDC Back-Channel Logout 1.0 §2.2
    backchannel_logout_session_required: bool = False



def _check_uris(uris: Iterable[str], what: str) -> list[str]:
    result = list(dict.fromkeys(check_redirect_uri(u, what) for u in uris))
    if len(result) > MAX_URIS:
        raise InvalidRequest(f"At most {MAX_URIS} {what}s.")
    return result


def _check_audience(aud: str) -> str:
    parts = urlsplit(aud)
    if not aud or len(aud) > 512 or not parts.scheme or parts.fragment or any(c.isspace() for c in aud):
        raise InvalidRequest(f"Audience {aud!r} must be an absolute URI without a fragment (RFC 8707).")
    return aud


def _check_jwks(jwks: Any) -> dict[str, Any]:
    if not isinstance(jwks, dict) or not load_jwks(jwks, ASYMMETRIC_ALGS):
        raise InvalidRequest("The client JWKS needs at least one public signing key with 'kid' and 'alg' "
                             f"({', '.join(ASYMMETRIC_ALGS)}).")
    if any(isinstance(k, dict) and {"d", "p", "q", "k"} & set(k) for k in jwks.get("keys", [])):
        raise InvalidRequest("The client JWKS must hold public keys only.")
    return jwks


def validate(spec: ClientSpec) -> ClientSpec:
    if not isinstance(spec.client_id, str) or not _CLIENT_ID.fullmatch(spec.client_id):
        raise InvalidRequest("A client id is 1-128 characters of A-Z a-z 0-9 . _ : ~ -.")
    if spec.client_id == FIRST_PARTY_CLIENT_ID:
        raise InvalidRequest(f"The client id {FIRST_PARTY_CLIENT_ID!r} is reserved.")
    grants = list(dict.fromkeys(spec.grant_types))
    unknown = [g for g in grants if g not in GRANT_TYPES]
    if unknown or not grants:
        raise InvalidRequest(f"Grant types are {', '.join(GRANT_TYPES)}; got {', '.join(unknown) or 'none'}.")
    if "refresh_token" in grants and not {"authorization_code", GRANT_TYPES[3]} & set(grants):
        raise InvalidRequest("The refresh_token grant comes with authorization_code or the device_code grant.")
    method = spec.auth_method or ("none" if spec.public else "private_key_jwt" if spec.jwks else "client_secret_basic")
    if method not in AUTH_METHODS:
        raise InvalidRequest(f"Client authentication methods are {', '.join(AUTH_METHODS)}.")
    if spec.public != (method == "none"):
        raise InvalidRequest("Public clients (and only they) use token_endpoint_auth_method 'none'.")
    if spec.public and "client_credentials" in grants:
        raise InvalidRequest("A public client cannot use client_credentials: it has no credentials.")
    if spec.public and GRANT_TYPES[4] in grants:
        raise InvalidRequest("A public client cannot use token exchange: it has no credentials (RFC 8693 §2.1).")
    if spec.public and spec.introspect:
        raise InvalidRequest("Only a confidential client may call the introspection endpoint.")
    if method == "private_key_jwt":
        spec.jwks = _check_jwks(spec.jwks)
    elif spec.jwks is not None:
        raise InvalidRequest("A JWKS is only used with token_endpoint_auth_method private_key_jwt.")
    spec.redirect_uris = _check_uris(spec.redirect_uris, "redirect URI")
    if "authorization_code" in grants and not spec.redirect_uris:
        raise InvalidRequest("The authorization_code grant needs at least one --redirect-uri.")
    spec.post_logout_redirect_uris = _check_uris(spec.post_logout_redirect_uris, "post-logout redirect URI")
    if spec.backchannel_logout_uri is not None:  # §2.2: an absolute URI, no fragment; https (loopback http)
        spec.backchannel_logout_uri = _check_uris([spec.backchannel_logout_uri], "back-channel logout URI")[0]
        if not spec.backchannel_logout_uri.startswith(("https://", "http://")):
            raise InvalidRequest("The back-channel logout URI must be https (http only on loopback).")
    elif spec.backchannel_logout_session_required:
        raise InvalidRequest("backchannel_logout_session_required needs a backchannel_logout_uri.")
    scopes: list[str] = []
    for s in spec.scopes:
        scopes.extend(parse_scope(s) or [])
    spec.scopes = list(dict.fromkeys(scopes))
    spec.audiences = list(dict.fromkeys(_check_audience(a) for a in spec.audiences))
    if spec.access_token_ttl is not None and not 0 < spec.access_token_ttl <= ACCESS_TTL_CEILING:
        raise InvalidRequest(f"A client's access-token lifetime is 1..{ACCESS_TTL_CEILING} seconds.")
    if spec.refresh_token_ttl is not None and not 60 <= spec.refresh_token_ttl <= REFRESH_ABSOLUTE_CEILING:
        raise InvalidRequest(f"A client's refresh-token lifetime is 60..{REFRESH_ABSOLUTE_CEILING} seconds.")
    if not isinstance(spec.name, str) or len(spec.name) > 128 or any(ord(c) < 0x20 for c in spec.name):
        raise InvalidRequest("A client name is at most 128 printable characters.")
    spec.grant_types = grants
    spec.auth_method = method
    return spec
