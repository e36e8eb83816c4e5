"""A client's DPoP key pair and the proofs it signs (RFC 9449 §4.2).

Used by ``idgate login --dpop``, by the tests and by the benchmarks: the client side of what
:mod:`idgate.rs.dpop` checks. Signing goes through joserfc (the reference JOSE library); a proof
is made once per request, so its cost does not matter here.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any

from joserfc import jws

from idgate.jose.keys import SigningKey, generate_signing_key, import_private_key, quiet_eddsa_warning, thumbprint

PROOF_TYP = "dpop+jwt"
_PUBLIC_MEMBERS = {"EC": ("kty", "crv", "x", "y"), "OKP": ("kty", "crv", "x"), "RSA": ("kty", "n", "e")}


class DpopKey:
    """A private key that signs DPoP proofs; ``jkt`` is its RFC 7638 thumbprint (RFC 9449 §6.1)."""

    def __init__(self, key: SigningKey) -> None:
        if key.alg == "HS256":
            raise ValueError("DPoP needs an asymmetric key (RFC 9449 §4.2)")
        self.key = key
        full = key.jose_key.as_dict(private=False)
        self.public_jwk: dict[str, Any] = {m: full[m] for m in _PUBLIC_MEMBERS[str(full["kty"])]}
        self.jkt = thumbprint(key.jose_key)

    @property
    def alg(self) -> str:
        return self.key.alg

    @classmethod
    def generate(cls, alg: str = "ES256") -> DpopKey:
        return cls(generate_signing_key(alg))

    @classmethod
    def from_pem(cls, pem: bytes, alg: str = "ES256") -> DpopKey:
        jose_key = import_private_key(pem, alg)
        return cls(SigningKey(kid=thumbprint(jose_key), alg=alg, jose_key=jose_key))

    def private_pem(self) -> bytes:
        return self.key.private_pem()

    def proof(self, htm: str, htu: str, *, access_token: str | None = None, nonce: str | None = None,
              iat: float | None = None, header: dict[str, Any] | None = None,
              claims: dict[str, Any] | None = None) -> str:
        """A proof for one request. ``header`` and ``claims`` override members (a None value
        removes one): the tests use them to forge every kind of bad proof."""
        protected: dict[str, Any] = {"typ": PROOF_TYP, "alg": self.alg, "jwk": dict(self.public_jwk)}
        body: dict[str, Any] = {"jti": secrets.token_urlsafe(16), "htm": htm, "htu": htu,
                                "iat": int(time.time() if iat is None else iat)}
        if access_token is not None:
            body["ath"] = base64.urlsafe_b64encode(hashlib.sha256(access_token.encode()).digest()).rstrip(b"=").decode()
        if nonce is not None:
            body["nonce"] = nonce
        for target, changes in ((protected, header), (body, claims)):
            for name, value in (changes or {}).items():
                if value is None:
                    target.pop(name, None)
                else:
                    target[name] = value
        from idgate import jsonenc

        with quiet_eddsa_warning():
            return jws.serialize_compact(protected, jsonenc.compact(body), self.key.jose_key,
                                         algorithms=[str(protected.get("alg", self.alg))])
