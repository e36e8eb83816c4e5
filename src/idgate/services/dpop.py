"""The issuer's side of DPoP (RFC 9449 §5): the proofs sent to ``/token`` and ``/login``.

One :class:`IssuerDpop` per provider holds the proof checker of :mod:`idgate.rs.dpop` (the same
code resource servers run), set up for the deployment:

- ``htu`` is the endpoint's public URL under the issuer, so a TLS-terminating proxy in front
  changes nothing;
- server nonces (§8) are on by default (``dpop_nonce``): HMAC of the time step under a key
  derived from the key-encryption key, so every node issues and accepts the same nonces with
  nothing shared at run time;
- proof ids (§11.1) are remembered where every process that could see a replay can look: Redis
  when ``redis_url`` is set, else the database (``oauth_assertion_jtis``, shared by every worker
  and node), and process memory only for one worker on SQLite.
"""

from __future__ import annotations

import hashlib
import threading

from idgate import clock
from idgate.errors import InvalidDpopProof
from idgate.provider import Provider
from idgate.rs.dpop import DpopProof, ProofChecker
from idgate.rs.dpop_state import DpopNonces, MemoryReplayCache, RedisReplayCache, ReplayCache
from idgate.services.clients.view import ClientView
from idgate.store import clients as client_rows
from idgate.store.db import transaction


class DatabaseReplayCache:
    """Proof ids in the database: every worker and node sees them (one indexed row each)."""

    def __init__(self, provider: Provider) -> None:
        self._sessions = provider.sessions

    def first_use(self, key: str, iat: float, expires_at: float) -> bool:
        row_key = hashlib.sha256(b"dpop\x00" + key.encode()).hexdigest()
        with transaction(self._sessions) as session:
            return client_rows.remember_jti(session, row_key, clock.from_timestamp(int(expires_at) + 1))


def _replay_cache(provider: Provider) -> tuple[ReplayCache, bool]:
    """(the cache, whether checking a proof stays in this process: no I/O, fine on the event loop)."""
    settings = provider.settings
    if settings.redis_url:
        from idgate.throttle import redis_prefix

        return RedisReplayCache(settings.redis_url, prefix=redis_prefix(settings) + "dpop:"), False
    if settings.workers == 1 and settings.effective_database_url.startswith("sqlite"):
        return MemoryReplayCache(), True
    return DatabaseReplayCache(provider), False


class IssuerDpop:
    def __init__(self, provider: Provider) -> None:
        settings = provider.settings
        self.issuer = settings.issuer.rstrip("/")
        self.nonces = DpopNonces(provider.kek, settings.dpop_nonce_lifetime) if settings.dpop_nonce else None
        replay, self.in_process = _replay_cache(provider)
        self.checker = ProofChecker(max_age=settings.dpop_proof_max_age, replay=replay, nonces=self.nonces)

    def check(self, proof: str | None, path: str) -> DpopProof | None:
        """The checked proof of a POST to ``path``, None when the request carries none."""
        if proof is None:
            return None
        return self.checker.check(proof, method="POST", url=self.issuer + path)

    def response_headers(self) -> dict[str, str]:
        """§8.2: a fresh nonce on every reply, so the client's next proof can carry it."""
        return {"DPoP-Nonce": self.nonces.current()} if self.nonces is not None else {}


_lock = threading.Lock()


def issuer_dpop(provider: Provider) -> IssuerDpop:
    """The provider's one :class:`IssuerDpop` (its replay cache must be one per process)."""
    found = provider.__dict__.get("_issuer_dpop")
    if found is None:
        with _lock:
            found = provider.__dict__.get("_issuer_dpop")
            if found is None:
                found = provider.__dict__["_issuer_dpop"] = IssuerDpop(provider)
    return found  # type: ignore[no-any-return]


def required_binding(client: ClientView | None, proof: DpopProof | None) -> str | None:
    """The key the tokens get bound to; refuses a client registered with
    ``dpop_bound_access_tokens`` (RFC 9449 §5.2) that sent no proof."""
    if proof is None and client is not None and client.dpop_bound_access_tokens:
        raise InvalidDpopProof("dpop_required", "This client must send a DPoP proof with its token requests.")
    return proof.jkt if proof is not None else None
