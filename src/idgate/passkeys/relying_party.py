"""The relying party of WebAuthn Level 3 (§7) as idgate runs it, on py_webauthn: options for
the two ceremonies and verification of their responses. No CBOR, COSE or attestation parsing
here: the library does all of it; this module chooses the parameters and turns the library's
verdicts into :mod:`idgate.passkeys.errors`.

* RP ID: the issuer's host (§5.1.2; a passkey made for it works on no other site).
* Origin: the issuer's origin, compared exactly (§7.1 step 9, §7.2 step 13).
* Attestation ``none`` (§5.4.7) unless the operator keeps an AAGUID allow-list, then ``direct``.
* Algorithms: ES256, EdDSA, RS256 (COSE -7, -8, -257).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from webauthn import generate_authentication_options, generate_registration_options, options_to_json, \
    verify_authentication_response, verify_registration_response
from webauthn.helpers import base64url_to_bytes, parse_client_data_json
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.structs import AttestationConveyancePreference, AuthenticatorSelectionCriteria, \
    AuthenticatorTransport, CredentialDeviceType, PublicKeyCredentialDescriptor, ResidentKeyRequirement, \
    UserVerificationRequirement

from .errors import MalformedPasskeyResponse, PasskeyRefused

ALGORITHMS = [COSEAlgorithmIdentifier.ECDSA_SHA_256, COSEAlgorithmIdentifier.EDDSA,
              COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256]
TIMEOUT_MS = 300_000  # what the browser waits for the user; the challenge lives as long
MAX_RESPONSE_BYTES = 16_384  # a credential JSON: a few hundred bytes, attestation a few KB
_TRANSPORTS = {t.value for t in AuthenticatorTransport}
# py_webauthn's refusal messages, by the reason idgate logs (tests pin each one).
_REASONS = (("origin", "wrong_origin"), ("RP ID hash", "wrong_rp_id"), ("not present", "user_not_present"),
            ("not verified", "user_not_verified"), ("signature", "bad_signature"), ("sign count", "counter"),
            ("challenge", "challenge_mismatch"), ("client data type", "wrong_type"),
            ("algorithm", "unsupported_algorithm"))


@dataclass(frozen=True)
class NewCredential:
    """A verified registration (§7.1 step 27): what to store."""

    credential_id: bytes
    public_key: bytes
    sign_count: int
    aaguid: str
    transports: tuple[str, ...]
    backup_eligible: bool
    backed_up: bool


@dataclass(frozen=True)
class Assertion:
    """A verified authentication (§7.2 step 26)."""

    sign_count: int
    user_verified: bool
    backed_up: bool


def _reason(exc: Exception) -> str:
    text = str(exc)
    return next((reason for needle, reason in _REASONS if needle.lower() in text.lower()), "malformed")


@dataclass(frozen=True)
class RelyingParty:
    rp_id: str
    origin: str
    name: str
    aaguids: frozenset[str] = frozenset()  # empty: any authenticator

    @classmethod
    def for_issuer(cls, issuer: str, name: str, aaguids: tuple[str, ...] = ()) -> RelyingParty:
        parts = urlsplit(issuer)
        host = (parts.hostname or "").lower()
        default = {"https": 443, "http": 80}.get(parts.scheme)
        origin = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port and parts.port != default else "")
        return cls(rp_id=host, origin=origin, name=name, aaguids=frozenset(a.lower() for a in aaguids))

    def registration_options(self, *, user_handle: bytes, username: str, display_name: str, challenge: bytes,
                             exclude: list[bytes]) -> str:
        """§5.4 options as JSON: a discoverable credential (resident key) with user
        verification, so it can sign in alone; the user's existing ones excluded."""
        options = generate_registration_options(
            rp_id=self.rp_id, rp_name=self.name, user_id=user_handle, user_name=username,
            user_display_name=display_name, challenge=challenge, timeout=TIMEOUT_MS,
            attestation=AttestationConveyancePreference.DIRECT if self.aaguids else AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED, user_verification=UserVerificationRequirement.REQUIRED),
            exclude_credentials=[PublicKeyCredentialDescriptor(id=c) for c in exclude],
            supported_pub_key_algs=ALGORITHMS)
        return options_to_json(options)

    def authentication_options(self, *, challenge: bytes, allow: list[tuple[bytes, tuple[str, ...]]] | None,
                               user_verification: bool) -> str:
        """§5.5 options as JSON. ``allow`` None: any discoverable credential (passwordless, the
        account not named, so the reply says nothing about which accounts exist)."""
        descriptors = [PublicKeyCredentialDescriptor(id=c, transports=[AuthenticatorTransport(t) for t in ts
                                                                        if t in _TRANSPORTS])
                       for c, ts in (allow or [])]
        options = generate_authentication_options(
            rp_id=self.rp_id, challenge=challenge, timeout=TIMEOUT_MS, allow_credentials=descriptors,
            user_verification=UserVerificationRequirement.REQUIRED if user_verification
            else UserVerificationRequirement.PREFERRED)
        return options_to_json(options)

    def verify_registration(self, credential: dict[str, Any], challenge: bytes) -> NewCredential:
        """§7.1 steps 5-26 (the library), then the AAGUID allow-list."""
        try:
            verified = verify_registration_response(
                credential=credential, expected_challenge=challenge, expected_rp_id=self.rp_id,
                expected_origin=self.origin, require_user_presence=True, require_user_verification=True,
                supported_pub_key_algs=ALGORITHMS)
        except Exception as exc:  # noqa: BLE001 - hostile input: every failure of the library is a refusal
            raise _refusal(exc) from None
        if self.aaguids and verified.aaguid.lower() not in self.aaguids:
            raise PasskeyRefused("aaguid_not_allowed", "This kind of passkey is not allowed here. Use a security "
                                 "key or device your organisation approved.", detail=f"aaguid {verified.aaguid}")
        transports = credential.get("response", {}).get("transports") or []
        return NewCredential(
            credential_id=verified.credential_id, public_key=verified.credential_public_key,
            sign_count=verified.sign_count, aaguid=verified.aaguid,
            transports=tuple(t for t in transports if isinstance(t, str) and t in _TRANSPORTS)[:8],
            backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
            backed_up=verified.credential_backed_up)

    def verify_authentication(self, credential: dict[str, Any], challenge: bytes, public_key: bytes, *,
                              require_user_verification: bool) -> Assertion:
        """§7.2 steps 5-21 (the library). The sign counter is compared by the caller after the
        signature is known good (a regression is then a cloned authenticator, not noise)."""
        try:
            verified = verify_authentication_response(
                credential=credential, expected_challenge=challenge, expected_rp_id=self.rp_id,
                expected_origin=self.origin, credential_public_key=public_key, credential_current_sign_count=0,
                require_user_verification=require_user_verification)
        except Exception as exc:  # noqa: BLE001 - hostile input: every failure of the library is a refusal
            raise _refusal(exc) from None
        return Assertion(sign_count=verified.new_sign_count, user_verified=verified.user_verified,
                         backed_up=verified.credential_backed_up)


def _refusal(exc: Exception) -> PasskeyRefused:
    reason = _reason(exc)
    detail = f"{reason}: {type(exc).__name__}: {str(exc)[:200]}"
    return MalformedPasskeyResponse(detail) if reason == "malformed" else PasskeyRefused(reason, detail=detail)


def parse_response(raw: bytes) -> dict[str, Any]:
    """The credential JSON the browser posted (size-checked), as a dict; Malformed otherwise."""
    if len(raw) > MAX_RESPONSE_BYTES:
        raise MalformedPasskeyResponse("response too large")
    try:
        value = json.loads(raw)
    except ValueError:
        raise MalformedPasskeyResponse("not JSON") from None
    if not isinstance(value, dict):
        raise MalformedPasskeyResponse("not a JSON object")
    return value


def challenge_of(credential: dict[str, Any]) -> bytes:
    """The challenge the browser signed over (clientDataJSON.challenge), to find its record."""
    try:
        response = credential["response"]
        client_data = parse_client_data_json(base64url_to_bytes(response["clientDataJSON"]))
        return bytes(client_data.challenge)
    except Exception:  # noqa: BLE001 - hostile input: unreadable means refused
        raise MalformedPasskeyResponse("clientDataJSON unreadable") from None


def credential_id_of(credential: dict[str, Any]) -> bytes:
    raw = credential.get("rawId") if isinstance(credential.get("rawId"), str) else credential.get("id")
    if not isinstance(raw, str) or not raw or len(raw) > 1400:
        raise MalformedPasskeyResponse("no credential id")
    try:
        return base64url_to_bytes(raw)
    except Exception:  # noqa: BLE001
        raise MalformedPasskeyResponse("credential id not base64url") from None
