"""One small error hierarchy for the whole project.

Every error carries an OAuth ``error`` code, an HTTP ``status_code``, a generic public
``description`` (safe to send) and an optional private ``detail`` that only goes to the log.
This follows RFC 6749 §5.2 (token endpoint errors), RFC 6750 §3.1 (bearer token errors) and
node-oidc-provider's split between ``error_description`` and ``error_detail``.
"""

from __future__ import annotations


class IdgateError(Exception):
    """Root of every error idgate raises on purpose."""

    error = "server_error"
    status_code = 500
    description = "The server could not complete the request."

    def __init__(self, description: str | None = None, *, detail: str | None = None) -> None:
        if description is not None:
            self.description = description
        self.detail = detail
        super().__init__(self.description if detail is None else f"{self.description} ({detail})")


class ConfigError(IdgateError):
    """A configuration value is invalid; the message names the key and the fix."""

    error = "config_error"


class StoreError(IdgateError):
    """The store could not do what was asked (duplicate, missing data folder...)."""

    error = "store_error"


class NotFound(StoreError):
    error = "not_found"
    status_code = 404
    description = "Not found."


class Conflict(StoreError):
    error = "conflict"
    status_code = 409
    description = "Already exists."


class WeakPassword(IdgateError):
    """A new password breaks the password policy (NIST SP 800-63B-4 §3.1.1.2)."""

    error = "weak_password"
    status_code = 400
    description = "The password does not meet the password policy."


class OAuthError(IdgateError):
    """An error rendered as an OAuth 2.0 error response (RFC 6749 §5.2)."""

    error = "invalid_request"
    status_code = 400
    description = "The request is invalid."

    def headers(self) -> dict[str, str]:
        return {}


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    error = "invalid_client"
    status_code = 401
    description = "Client authentication failed."

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="idgate"'}


class InvalidGrant(OAuthError):
    """RFC 6749 §5.2 invalid_grant; also used for a failed password login."""

    error = "invalid_grant"
    description = "The grant is invalid, expired or revoked."


class InvalidCredentials(OAuthError):
    """Wrong password and unknown user share this one reply, byte for byte."""

    error = "invalid_grant"
    status_code = 401
    description = "Invalid username or password."


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"
    description = "The client may not use this grant."


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"
    description = "The grant type is not supported."


class InvalidScope(OAuthError):
    error = "invalid_scope"
    description = "The requested scope is invalid or not allowed."


class AccessDenied(OAuthError):
    error = "access_denied"
    status_code = 403
    description = "Access denied."


class MethodNotAllowed(OAuthError):
    error = "invalid_request"
    status_code = 405
    description = "Method not allowed; use POST with the credentials in the body."


class PayloadTooLarge(OAuthError):
    error = "invalid_request"
    status_code = 413
    description = "The request body is too large."


class UnsupportedMediaType(OAuthError):
    error = "invalid_request"
    status_code = 415
    description = "Unsupported content type; use application/json or application/x-www-form-urlencoded."


class TooManyRequests(OAuthError):
    error = "slow_down"
    status_code = 429
    description = "Too many requests; retry later."

    def __init__(self, retry_after: int = 1, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.retry_after = max(1, int(retry_after))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class InvalidToken(OAuthError):
    """RFC 6750 §3.1 invalid_token: the bearer token is not accepted.

    ``reason`` is a short machine-readable cause (``expired``, ``bad_signature``...) meant for
    the caller's logs; the public description stays generic.
    """

    error = "invalid_token"
    status_code = 401
    description = "The access token is invalid."

    def __init__(self, reason: str = "invalid", description: str | None = None) -> None:
        self.reason = reason
        super().__init__(description, detail=reason)

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{self.description}"'}


class InvalidDpopProof(OAuthError):
    """RFC 9449 §5 and §7.1 ``invalid_dpop_proof``: the DPoP proof is missing, malformed or does
    not fit the request or the token. 400 at the token endpoint; resource servers answer 401.

    ``reason`` is a fixed, short cause (``stale_iat``, ``wrong_htu``...), never request data."""

    error = "invalid_dpop_proof"
    status_code = 400
    description = "The DPoP proof is invalid."

    def __init__(self, reason: str = "invalid", description: str | None = None) -> None:
        self.reason = reason
        super().__init__(description or f"DPoP proof refused: {reason.replace('_', ' ')}.", detail=reason)


class UseDpopNonce(OAuthError):
    """RFC 9449 §8.1 / §9 ``use_dpop_nonce``: send the proof again with this server nonce."""

    error = "use_dpop_nonce"
    status_code = 400
    description = "Authorization server requires nonce in DPoP proof."

    def __init__(self, nonce: str, description: str | None = None) -> None:
        self.nonce = nonce
        super().__init__(description, detail="nonce missing or stale")

    def headers(self) -> dict[str, str]:
        return {"DPoP-Nonce": self.nonce, "Cache-Control": "no-store"}


class InsufficientScope(OAuthError):
    """RFC 6750 §3.1 insufficient_scope."""

    error = "insufficient_scope"
    status_code = 403
    description = "The access token does not carry the required scope."

    def __init__(self, scope: str, description: str | None = None) -> None:
        self.scope = scope
        super().__init__(description, detail=f"needs {scope}")

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{self.scope}"'}


class InvalidTarget(OAuthError):
    """RFC 8707 §2 invalid_target: the requested audience is not one this issuer serves."""

    error = "invalid_target"
    description = "The requested audience is not allowed."


class InsecureTransport(OAuthError):
    """Credentials over plain HTTP from a non-loopback client (RFC 6749 §3.1, §10.9)."""

    error = "invalid_request"
    status_code = 403
    description = "Credentials must be sent over HTTPS; this request came over plain HTTP and was refused."


class AuthorizationPending(OAuthError):
    """RFC 8628 §3.5: the user has not approved (or denied) the device yet; poll again."""

    error = "authorization_pending"
    status_code = 400
    description = "The user has not finished signing in on the other device yet."


class SlowDown(OAuthError):
    """RFC 8628 §3.5: polled faster than ``interval``; the interval grows by 5 seconds."""

    error = "slow_down"
    status_code = 400
    description = "Polling too fast: wait longer between requests."


class ExpiredToken(OAuthError):
    """RFC 8628 §3.5: the device code expired; start again."""

    error = "expired_token"
    status_code = 400
    description = "The device code has expired. Start the sign-in again."


class DeviceAccessDenied(OAuthError):
    """RFC 8628 §3.5: the user denied the request."""

    error = "access_denied"
    status_code = 400
    description = "The user denied the request."
