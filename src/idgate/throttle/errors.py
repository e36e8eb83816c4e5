"""Replies of the throttle: 429 with Retry-After (back-off) and 403 (locked until an admin acts)."""

from __future__ import annotations

import math

from idgate.errors import OAuthError, TooManyRequests


class Throttled(TooManyRequests):
    """Exponential back-off in force: retry after ``Retry-After`` seconds (RFC 6585 §4)."""

    description = "Too many failed attempts; wait before trying again (see Retry-After)."

    def __init__(self, retry_after: float, *, detail: str | None = None) -> None:
        super().__init__(retry_after=max(1, math.ceil(retry_after)), detail=detail)


class AccountLocked(OAuthError):
    """Too many consecutive failures (NIST SP 800-63B §5.2.2): an administrator must unlock it.

    The same reply for any name, existing or not. A login that presents a known-device token
    of the account is not stopped by this (the attack came from elsewhere)."""

    error = "access_denied"
    status_code = 403
    description = ("Too many failed attempts: this account is locked. Ask an administrator to unlock it "
                   "('idgate user unlock NAME'), or sign in from a device you have used before.")
