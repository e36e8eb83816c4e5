"""A software WebAuthn authenticator for tests: it answers idgate's real options with real
responses (clientDataJSON, authenticatorData, a "none" attestationObject in CBOR, ES256
signatures), the way a browser and a platform authenticator would, so each bad-input test can
start from a genuine response and break exactly one thing.

It is test equipment, not part of idgate: idgate itself never builds or parses CBOR or COSE
(py_webauthn does). The chromium virtual authenticator tests cover the browser end to end.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
AAGUID = bytes.fromhex("1a2b3c4d5e6f708192a3b4c5d6e7f809")


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Key:
    credential_id: bytes
    private: ec.EllipticCurvePrivateKey
    user_handle: bytes
    rp_id: str
    counter: int = 0

    def cose(self) -> bytes:
        numbers = self.private.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})


@dataclass
class SoftAuthenticator:
    origin: str
    user_verified: bool = True
    backup_eligible: bool = False
    counting: bool = True  # False: a synced passkey's constant 0 counter
    keys: list[Key] = field(default_factory=list)

    def _flags(self, extra: int = 0) -> int:
        flags = UP | extra
        if self.user_verified:
            flags |= UV
        if self.backup_eligible:
            flags |= BE | BS
        return flags

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}).encode()

    def create(self, options: dict[str, Any] | str, *, origin: str | None = None, rp_id: str | None = None,
               flags: int | None = None, kind: str = "webauthn.create", key: Key | None = None) -> dict[str, Any]:
        """navigator.credentials.create() for these registration options (``key``: attest an
        existing key again, as a broken authenticator that ignores excludeCredentials would)."""
        opts = json.loads(options) if isinstance(options, str) else options
        rp = rp_id or opts["rp"]["id"]
        key = key or Key(os.urandom(32), ec.generate_private_key(ec.SECP256R1()), unb64u(opts["user"]["id"]), rp)
        attested = AAGUID + struct.pack(">H", len(key.credential_id)) + key.credential_id + key.cose()
        auth_data = hashlib.sha256(rp.encode()).digest() + bytes([self._flags(AT) if flags is None else flags]) \
            + struct.pack(">I", 0) + attested
        client_data = self._client_data(kind, opts["challenge"], origin or self.origin)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        self.keys.append(key)
        return {"id": b64u(key.credential_id), "rawId": b64u(key.credential_id), "type": "public-key",
                "response": {"clientDataJSON": b64u(client_data), "attestationObject": b64u(attestation),
                             "transports": ["internal"]},
                "authenticatorAttachment": "platform", "clientExtensionResults": {}}

    def get(self, options: dict[str, Any] | str, *, key: Key | None = None, origin: str | None = None,
            rp_id: str | None = None, flags: int | None = None, counter: int | None = None,
            kind: str = "webauthn.get", user_handle: bytes | None = None) -> dict[str, Any]:
        """navigator.credentials.get() for these authentication options (the newest key, or
        ``key``); each keyword breaks one thing."""
        opts = json.loads(options) if isinstance(options, str) else options
        key = key or self.keys[-1]
        if counter is None:
            if self.counting:
                key.counter += 1
            counter = key.counter if self.counting else 0
        rp = rp_id or opts.get("rpId") or key.rp_id
        auth_data = hashlib.sha256(rp.encode()).digest() + bytes([self._flags() if flags is None else flags]) \
            + struct.pack(">I", counter)
        client_data = self._client_data(kind, opts["challenge"], origin or self.origin)
        signature = key.private.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {"id": b64u(key.credential_id), "rawId": b64u(key.credential_id), "type": "public-key",
                "response": {"clientDataJSON": b64u(client_data), "authenticatorData": b64u(auth_data),
                             "signature": b64u(signature), "userHandle": b64u(user_handle or key.user_handle)},
                "authenticatorAttachment": "platform", "clientExtensionResults": {}}
