"""Helpers shared by the checks that send deliberately wrong credentials."""

from __future__ import annotations

import httpx

from idgate.audit.target import Target

# OAuth error codes that mean "I checked your credentials and they were wrong".
_CHECKED_ERRORS = frozenset({"invalid_grant", "invalid_client", "access_denied", "unauthorized_client",
                             "invalid_credentials"})
ENDPOINTS = (("idgate_login_endpoint", "login"), ("token_endpoint", "token"))


def wrong_credentials(target: Target, kind: str) -> dict[str, str]:
    """Credentials that cannot be real (random), in the shape the endpoint expects."""
    user, password = f"idgate-audit-{target.nonce}", f"not-a-real-password-{target.nonce}"
    if kind == "token":
        return {"grant_type": "password", "username": user, "password": password,
                "client_id": f"idgate-audit-{target.nonce}", "client_secret": password}
    return {"username": user, "password": password}


def credential_endpoints(target: Target) -> list[tuple[str, str]]:
    """(kind, url) of the endpoints that take credentials, from the discovery document."""
    target.discovery()
    return [(kind, url) for name, kind in ENDPOINTS if (url := target.endpoint(name))]


def processed(response: httpx.Response) -> bool:
    """Did the server act on the credentials (accept them, or check and reject them)?"""
    if 200 <= response.status_code < 300 or response.status_code == 401:
        return True
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("error") in _CHECKED_ERRORS


def describe(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    return f"{response.status_code}" + (f" {error}" if isinstance(error, str) else "")
