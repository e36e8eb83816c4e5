"""Second factors: TOTP (RFC 6238, with ``pyotp``) and single-use recovery codes.

* Secrets are 160 random bits (RFC 4226 §4 recommends 160), sealed with AES-256-GCM under a key
  derived (HKDF-SHA256) from the provider's key-encryption key; the user id is the AAD, so a
  sealed secret copied onto another user's row does not open.
* A code is accepted for the current 30-second step or one step either side (clock skew), and
  only for a step *after* the last one used: each code works once (replay refused).
* Ten recovery codes of 80 random bits each, shown once, stored only as HMAC-SHA256 under
  another KEK-derived key; each works once.

Service functions live in :mod:`idgate.mfa.service`; the HTTP API in
``idgate.server.endpoints.mfa``; the CLI in ``idgate.cli.mfa``.
"""

from .errors import InvalidOtp, MfaRequired

__all__ = ["InvalidOtp", "MfaRequired"]
