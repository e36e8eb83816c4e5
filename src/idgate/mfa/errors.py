"""Replies of the second-factor step of a login."""

from __future__ import annotations

from idgate.errors import OAuthError


class MfaRequired(OAuthError):
    """The password was right and the account has a second factor: send the code as ``otp``.

    ``user_id`` is for a caller that keeps the pending login (the browser flow) and then calls
    :func:`idgate.mfa.service.verify_second_factor`; it is never rendered."""

    error = "mfa_required"
    status_code = 401
    description = ("A one-time code is required: send the 6-digit code from your authenticator app "
                   "(or a recovery code) as 'otp' together with the username and password.")

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        super().__init__(detail="second factor required")


class InvalidOtp(OAuthError):
    error = "invalid_grant"
    status_code = 401
    description = "The one-time code is wrong, expired or already used."


class MfaEnrollmentRequired(OAuthError):
    error = "mfa_enrollment_required"
    status_code = 403
    description = ("Your role requires a second factor and none is set up: sign in at /login to get an "
                   "enrolment-only token, then enrol at /mfa/totp, or ask an administrator "
                   "('idgate mfa enroll NAME').")


class MfaRequiredByRole(OAuthError):
    """The user asked to remove their own second factor while a role of theirs requires one."""

    error = "access_denied"
    status_code = 403
    description = ("Your role requires two-step verification, so your authenticator cannot be removed. To move "
                   "to a new phone, ask an administrator to replace it ('idgate mfa enroll NAME --replace').")
