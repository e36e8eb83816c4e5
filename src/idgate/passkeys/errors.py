"""Why a passkey ceremony was refused. The ``reason`` goes to the log and the security event;
the user sees only the description, which never says whether an account exists."""

from __future__ import annotations

from idgate.errors import IdgateError


class PasskeyRefused(IdgateError):
    """A response that was well formed but did not verify: wrong origin or RP ID, a challenge
    that is unknown, used, expired or of another browser, an unknown credential, a missing
    user-presence or user-verification flag, a bad signature, a counter that went backwards."""

    error = "access_denied"
    status_code = 401
    description = "This passkey was not accepted. Try again, or sign in another way."

    def __init__(self, reason: str, description: str | None = None, *, detail: str | None = None) -> None:
        self.reason = reason
        super().__init__(description, detail=detail or reason)


class MalformedPasskeyResponse(PasskeyRefused):
    """clientDataJSON, authenticatorData, attestationObject or the JSON around them could not be
    read (truncated, wrong types, bad base64url or CBOR)."""

    error = "invalid_request"
    status_code = 400
    description = "The browser sent a passkey response that could not be read. Try again."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__("malformed", detail=detail or "malformed")


class ChallengeUnavailable(PasskeyRefused):
    """The response names no challenge this browser holds: it expired, was used, or was
    issued to another browser session or sign-in."""

    error = "invalid_request"
    status_code = 400
    description = "That took too long or was already used. Try again."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__("challenge_unknown", detail=detail or "challenge unknown, used, expired or foreign")
