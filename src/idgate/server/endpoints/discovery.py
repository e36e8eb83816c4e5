"""Discovery: OpenID Connect Discovery 1.0 §4 and RFC 8414 §3, computed from the settings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from idgate.config.schema import Settings
from idgate.jose.algorithms import ASYMMETRIC_ALGS
from idgate.rs.dpop import DPOP_ALGS
from idgate.server.deps import provider_of
from idgate.server.grants import GRANTS
from idgate.services.oidc import ACR_VALUES

router = APIRouter()


def metadata(settings: Settings, alg: str) -> dict[str, Any]:
    base = settings.issuer.rstrip("/")
    return {
        "issuer": settings.issuer,
        "jwks_uri": f"{base}/jwks.json",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/userinfo",
        "idgate_login_endpoint": f"{base}/login",
        "revocation_endpoint": f"{base}/revoke",
        "idgate_logout_endpoint": f"{base}/logout",
        # Issue 4: third-party apps (authorization code + PKCE, OIDC, client registry).
        "authorization_endpoint": f"{base}/authorize",
        "introspection_endpoint": f"{base}/introspect",
        "end_session_endpoint": f"{base}/end_session",
        "device_authorization_endpoint": f"{base}/device_authorization",  # RFC 8628 §4
        # OIDC Back-Channel Logout 1.0 §2.1: logout tokens, with sid.
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "grant_types_supported": list(GRANTS),  # the token endpoint's table, so the two cannot disagree
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "prompt_values_supported": ["none", "login", "consent"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt",
                                                  "none"],
        "token_endpoint_auth_signing_alg_values_supported": list(ASYMMETRIC_ALGS),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post",
                                                          "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": list(ASYMMETRIC_ALGS),
        "acr_values_supported": list(ACR_VALUES),
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": True,
        "subject_types_supported": ["public"],
        "scopes_supported": ["openid", "profile", "email"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "preferred_username", "name", "email",
                             "email_verified", "roles", "permissions", "scope", "client_id", "auth_time", "nonce",
                             "at_hash", "acr", "amr", "azp", "sid"],
        "id_token_signing_alg_values_supported": [alg],
        "access_token_signing_alg_values_supported": [alg],
        "userinfo_signing_alg_values_supported": [alg],
        "code_challenge_methods_supported": ["S256"],
        # RFC 9449 §5.1: the proof algorithms accepted (asymmetric only: never none or HS*).
        "dpop_signing_alg_values_supported": list(DPOP_ALGS),
        "authorization_response_iss_parameter_supported": True,
        "idgate_access_token_lifetime": settings.access_token_ttl,
    }


@router.get("/.well-known/openid-configuration", summary="OpenID Connect discovery")
@router.get("/.well-known/oauth-authorization-server", summary="OAuth 2.0 authorization server metadata")
async def discovery(request: Request) -> JSONResponse:
    provider = provider_of(request)
    body = metadata(provider.settings, provider.keyring().active.alg)
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=3600"})
