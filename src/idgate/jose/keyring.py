"""The key ring: one active signing key plus older keys still published for verification.

Modelled on ``MultiFernet``: sign with the newest, verify with any published key, retire a key
only after every token it signed has expired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from idgate.jose.keys import SigningKey


@dataclass(frozen=True)
class KeyRing:
    active: SigningKey
    # Public JWKs of every key a verifier should still accept (the active one included).
    published: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def public_jwks(self) -> dict[str, list[dict[str, Any]]]:
        """RFC 7517 §5 JWK Set with public members only."""
        keys = list(self.published) or [self.active.public_jwk]
        if all(k["kid"] != self.active.kid for k in keys):
            keys.insert(0, self.active.public_jwk)
        return {"keys": keys}
