"""idgate.rs: verify idgate's JWT access tokens (RFC 9068) in a resource server.

    from idgate.rs import Verifier, InvalidToken
    verifier = Verifier(issuer="https://idp.example", audience="https://api.example")
    claims = verifier.verify(token)   # or raises InvalidToken with a .reason

DPoP-bound tokens (RFC 9449) need the whole request: pass ``dpop=ProofChecker()`` and
``public_url=`` to the Verifier, then ``authenticate(verifier, headers, method=, url=)``
(or the middleware / ``require_scope``, which do that).

``require_scope`` needs FastAPI and is imported only when first used.
"""

from __future__ import annotations

from typing import Any

from idgate.errors import InvalidToken
from idgate.rs.asgi import BearerAuthMiddleware
from idgate.rs.denylist import RedisDenyList
from idgate.rs.dpop import ProofChecker
from idgate.rs.dpop_state import MemoryReplayCache, RedisReplayCache
from idgate.rs.introspection import IntrospectionDenyList
from idgate.rs.request import Authenticated, Refused, authenticate, authenticate_scope
from idgate.rs.verifier import Verifier

__all__ = ["Authenticated", "BearerAuthMiddleware", "IntrospectionDenyList", "InvalidToken", "MemoryReplayCache",
           "ProofChecker", "RedisDenyList", "RedisReplayCache", "Refused", "Verifier", "authenticate",
           "authenticate_scope", "require_scope"]


def __getattr__(name: str) -> Any:
    if name == "require_scope":
        from idgate.rs.fastapi import require_scope

        return require_scope
    raise AttributeError(f"module 'idgate.rs' has no attribute {name!r}")
