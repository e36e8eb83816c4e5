"""The verifier idgate uses for its own access tokens: the same :class:`idgate.rs.Verifier` a
resource server uses (RFC 9068 §4), on the provider's key ring and its deny-list."""

from __future__ import annotations

import weakref
from collections.abc import Callable

from idgate.config.schema import ACCESS_TTL_CEILING
from idgate.provider import Provider
from idgate.rs import ProofChecker, Verifier
from idgate.services.dpop import issuer_dpop
from idgate.services.issuance import allowed_audiences
from idgate.store import tokens as token_rows
from idgate.store.db import transaction


def build_verifier(provider: Provider, on_jwks_lookup: Callable[[str], None] | None = None, *,
                   audiences: tuple[str, ...] | None = None) -> Verifier:
    """The server checks access tokens exactly as a service would, against its own key ring.
    DPoP proofs sent to its own endpoints (/userinfo, the admin and account APIs) name URLs
    under the issuer, and their ids go to the same replay cache as the proofs sent to /token;
    no server nonce there (RFC 9449 §9 leaves it to the resource server; the proof's ath
    already ties it to one token). ``audiences``: accept tokens for these instead of the
    server's own (token exchange reads tokens addressed to any registered resource server)."""
    settings = provider.settings
    issuer_side = issuer_dpop(provider).checker
    dpop = ProofChecker(algorithms=issuer_side.algorithms, max_age=settings.dpop_proof_max_age,
                        replay=issuer_side.replay)
    return Verifier(dpop=dpop, public_url=settings.issuer,issuer=settings.issuer, audience=audiences or settings.allowed_audiences,
                    jwks=lambda: provider.keyring().public_jwks(), max_lifetime=ACCESS_TTL_CEILING,
                    # The key ring is in-process and cheap to read: no refetch throttle needed.
                    min_refetch_interval=0.0,
                    deny_list=lambda jti: is_revoked(provider, jti), on_jwks_lookup=on_jwks_lookup)


_SERVED: weakref.WeakKeyDictionary[Provider, tuple[tuple[str, ...], Verifier]] = weakref.WeakKeyDictionary()


def served_verifier(provider: Provider) -> Verifier:
    """A verifier for tokens addressed to ANY audience this issuer serves: its own and every
    resource server registered with ``idgate audience add`` (RFC 8707). Revocation,
    introspection and token exchange read tokens meant for those services, which the
    server's own endpoints (``/userinfo``) must not accept. Rebuilt when the list changes."""
    served = allowed_audiences(provider)
    cached = _SERVED.get(provider)
    if cached is None or cached[0] != served:
        cached = (served, build_verifier(provider, audiences=served))
        _SERVED[provider] = cached
    return cached[1]


def is_revoked(provider: Provider, jti: str) -> bool:
    """RFC 7009 §2.1: an access token's ``jti`` on the deny-list until the token expires."""
    with transaction(provider.sessions) as session:
        return token_rows.is_denied(session, jti)
