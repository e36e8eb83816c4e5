"""Access-token issuance shared by every grant: the token response, refresh-token lifetimes,
the audiences tokens may be minted for, and minting (sign, then encrypt for an audience with a
registered encryption key).

Used by the password login (:mod:`idgate.services.login`), the refresh grant
(:mod:`idgate.services.refresh_grants`) and the authorization-code and client-credentials grants
(:mod:`idgate.services.authorization_codes`, :mod:`idgate.services.client_credentials`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from idgate.config.schema import Settings
from idgate.jose.jwe import encrypt_nested
from idgate.provider import Provider
from idgate.services.audiences import ConfidentialClaimsNeedEncryption
from idgate.store.users import UserView
from idgate.tokens import refresh
from idgate.tokens.access import access_token_claims, issue_access_token


@dataclass(frozen=True)
class TokenResponse:
    """RFC 6749 §5.1 successful token response."""

    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None
    token_type: str = "Bearer"
    # /login extensions (RFC 6749 §5.1 allows extra members): a known-device token to present on
    # later logins, and the flag of an enrolment-only token (a role requires MFA, none is set up).
    device_token: str | None = None
    mfa_enrollment_required: bool = False

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"access_token": self.access_token, "token_type": self.token_type,
                                "expires_in": self.expires_in, "scope": self.scope}
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        if self.device_token is not None:
            body["device_token"] = self.device_token
        if self.mfa_enrollment_required:
            body["mfa_enrollment_required"] = True
        return body


def lifetimes(settings: Settings) -> refresh.Lifetimes:
    return refresh.Lifetimes(idle=timedelta(seconds=settings.refresh_idle_ttl),
                             absolute=timedelta(seconds=settings.refresh_absolute_ttl))


def access_claims(provider: Provider, user: UserView, *, client_id: str, scope: list[str], audience: str,
                  now: int, auth_time: int | None = None, amr: Sequence[str] = ("pwd",),
                  dpop_jkt: str | None = None) -> dict[str, Any]:
    settings = provider.settings
    return access_token_claims(user=user, issuer=settings.issuer, audience=audience, client_id=client_id,
                               scope=scope, ttl=settings.access_token_ttl, now=now,
                               profile_claims=settings.profile_claims, auth_time=auth_time, amr=amr,
                               dpop_jkt=dpop_jkt)


def refuse_readable_confidential_claims(provider: Provider, claims: dict[str, Any], audience: str) -> None:
    """A token that would carry confidential claims (config ``confidential_claims``) in a
    readable payload is refused instead of leaked; one encrypted for its audience may."""
    if provider.audiences.encryption_key(audience) is not None:
        return
    leaking = sorted(set(provider.settings.confidential_claims) & set(claims))
    if leaking:
        raise ConfidentialClaimsNeedEncryption(detail=f"{audience}: {', '.join(leaking)}")


def mint_access_token(provider: Provider, user: UserView, *, client_id: str, scope: list[str], audience: str,
                      now: int, auth_time: int | None = None, amr: Sequence[str] = ("pwd",),
                      dpop_jkt: str | None = None) -> str:
    """Sign the access token; for an audience with a registered encryption key, encrypt it too.

    A token that would carry confidential claims (config ``confidential_claims``) in a readable
    payload is refused instead of leaked.
    """
    claims = access_claims(provider, user, client_id=client_id, scope=scope, audience=audience, now=now,
                           auth_time=auth_time, amr=amr, dpop_jkt=dpop_jkt)
    refuse_readable_confidential_claims(provider, claims, audience)
    return sign_access_claims(provider, claims, audience)


def sign_access_claims(provider: Provider, claims: dict[str, Any], audience: str) -> str:
    """Sign claims already checked by :func:`refuse_readable_confidential_claims`."""
    signed = issue_access_token(claims, provider.keyring().active)
    recipient = provider.audiences.encryption_key(audience)
    return encrypt_nested(signed, recipient) if recipient is not None else signed


def allowed_audiences(provider: Provider) -> tuple[str, ...]:
    return tuple(dict.fromkeys(provider.settings.allowed_audiences + provider.audiences.registered()))
