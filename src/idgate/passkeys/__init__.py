"""Passkeys (WebAuthn Level 3, issue 13): registration, passwordless sign-in and second factor.

* :mod:`.relying_party`: the ceremonies on py_webauthn (options, verification).
* :mod:`.challenges`: single-use challenges bound to the browser session that asked.
* :mod:`.service`: the rules (who may register, sign in, rename, remove), events, throttling.
"""

from .errors import ChallengeUnavailable, MalformedPasskeyResponse, PasskeyRefused

__all__ = ["ChallengeUnavailable", "MalformedPasskeyResponse", "PasskeyRefused"]
