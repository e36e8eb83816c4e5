"""The resource server's access-token verifier (RFC 9068 §4, RFC 8725).

``Verifier.verify(token)`` returns the claims or raises :class:`idgate.errors.InvalidToken`
with a short ``.reason``; it never returns a bool and never raises anything else for a bad
token. Steps, in order, each cheap before the next:

1. size, then compact form (three strict base64url segments), then the header: a JSON object
   without duplicate members, a real ``alg`` from the allow-list, no ``jwk``/``jku``/``x5u``/
   ``x5c``/``crit``/``b64``/``zip``, ``typ`` = ``at+jwt``, a ``kid``;
2. the key, chosen only by ``kid``, whose own algorithm must equal the header's;
3. the signature, with ``cryptography`` directly (see :mod:`idgate.jose.verify`);
4. the payload (a JSON object without duplicates) and its claims (RFC 9068 §2.2, §4);
5. the optional deny list (``revoked``): ``deny_list(jti)``, or ``deny_list(jti, token)`` when it
   declares ``wants_token = True`` (the signed token; the inner JWS of an encrypted one);
6. a token bound to a DPoP key (``cnf.jkt``, RFC 9449 §6) is refused unless the caller checks
   the proof (``allow_bound=True``): a bound token sent as a bearer token proves nothing (§7.2).
   :func:`idgate.rs.request.authenticate` reads a whole request, bearer or DPoP.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from idgate.errors import ConfigError, InvalidToken
from idgate.jose.algorithms import ASYMMETRIC_ALGS, SIGNING_ALGS, SYMMETRIC_ALGS
from idgate.jose.jwe import decrypt_nested, import_encryption_key
from idgate.jose.verify import CompactVerifier, parse_claims
from idgate.rs.claims import check_claims, confirmation_jkt
from idgate.rs.dpop import DpopProof, ProofChecker
from idgate.rs.fetch import require_https, require_public_url
from idgate.rs.jwks import JwksProvider, KeySource


class Verifier:
    def __init__(
        self,
        issuer: str,
        audience: str | Collection[str],
        jwks_uri: str | None = None,
        jwks: Mapping[str, Any] | JwksProvider | None = None,
        ca: str | None = None,
        *,
        algorithms: Collection[str] = ASYMMETRIC_ALGS,
        leeway: int = 30,
        max_lifetime: int = 86400,
        typ: str = "at+jwt",
        max_token_bytes: int = 8192,
        http_timeout: float = 5.0,
        min_refetch_interval: float = 30.0,
        clock: Callable[[], float] = time.time,
        deny_list: Callable[[str], bool] | Callable[[str, str], bool] | None = None,
        decryption_key: str | bytes | Mapping[str, Any] | None = None,
        require_encryption: bool | None = None,
        on_jwks_lookup: Callable[[str], None] | None = None,
        dpop: ProofChecker | None = None,
        public_url: str | None = None,
    ) -> None:
        # One audience, or several (a token is accepted if its aud names any of them).
        audiences = (audience,) if isinstance(audience, str) else tuple(audience)
        if not isinstance(issuer, str) or not issuer or not audiences or \
                not all(isinstance(a, str) and a for a in audiences):
            raise ConfigError("Verifier needs a non-empty issuer and audience.")
        self.issuer = issuer
        self.audience: str | tuple[str, ...] = audience if isinstance(audience, str) else audiences
        self.algorithms = _check_algorithms(algorithms, remote=jwks is None)
        if jwks is None:
            require_https(jwks_uri if jwks_uri is not None else issuer, "jwks_uri" if jwks_uri else "issuer")
        if not 0 <= leeway <= 300:
            raise ConfigError(f"Verifier leeway is {leeway}s; keep clock skew allowance within 0..300 seconds.")
        if max_lifetime <= 0:
            raise ConfigError("Verifier max_lifetime must be positive.")
        self.leeway = leeway
        self.max_lifetime = max_lifetime
        self.typ = typ
        self.max_token_bytes = max_token_bytes
        self._clock = clock
        self._deny_list = deny_list
        # A deny-list declaring ``wants_token = True`` (introspection) is called as (jti, token).
        self._deny_wants_token = getattr(deny_list, "wants_token", False) is True
        self._keys = KeySource(
            issuer=issuer,
            jwks_uri=jwks_uri,
            jwks=jwks,
            ca=ca,
            algorithms=self.algorithms,
            allow_symmetric=self.algorithms == SYMMETRIC_ALGS,
            http_timeout=http_timeout,
            min_refetch_interval=min_refetch_interval,
            clock=clock,
            on_lookup=on_jwks_lookup,
        )
        # Nested tokens (RFC 7519 §5.2): decrypt with our private key, then verify as usual.
        # With a decryption key, plain signed tokens are refused unless explicitly allowed.
        self._decryption_key = (import_encryption_key(dict(decryption_key) if isinstance(decryption_key, Mapping)
                                                      else decryption_key, private=True)
                                if decryption_key is not None else None)
        self._require_encryption = (self._decryption_key is not None if require_encryption is None
                                    else require_encryption)
        if self._require_encryption and self._decryption_key is None:
            raise ConfigError("require_encryption needs a decryption_key.")
        # DPoP (RFC 9449 §7): the proof's htu must name this service's public URL, never one
        # read from the request's Host header (a proof for another service would then pass).
        if dpop is not None and public_url is None:
            raise ConfigError("A Verifier with dpop= needs public_url=, the URL clients call (https://api.example).")
        if public_url is not None:
            require_public_url(public_url)
        self.dpop = dpop
        self.public_url = public_url.rstrip("/") if public_url is not None else None
        self._verify_jws = CompactVerifier(
            self._keys.get, self.algorithms, typ=typ, max_bytes=max_token_bytes
        )

    def jwks_stats(self) -> dict[str, int]:
        """How key lookups went: ``hit`` (from the cache), ``refetched`` (after fetching the JWKS
        again), ``unknown`` (no such ``kid``), and JWKS ``fetches`` / ``fetch_errors``."""
        return {**self._keys.lookups, "fetches": self._keys.fetches, "fetch_errors": self._keys.fetch_errors}

    def verify(self, token: object, *, allow_bound: bool = False) -> dict[str, Any]:
        """The token's claims, or InvalidToken with a ``.reason``. A DPoP-bound token is refused
        (``dpop_bound_token``) unless ``allow_bound``: then the caller checks the proof, or only
        reads the claims (introspection)."""
        if self._decryption_key is not None and isinstance(token, str) and token.count(".") == 4:
            token = decrypt_nested(token, self._decryption_key)
        elif self._require_encryption:
            raise InvalidToken("encryption_required")
        _, payload = self._verify_jws(token)
        claims = parse_claims(payload)
        check_claims(
            claims,
            issuer=self.issuer,
            audience=self.audience,
            now=self._clock(),
            leeway=self.leeway,
            max_lifetime=self.max_lifetime,
        )
        if self._deny_list is not None:
            args = (claims["jti"], token) if self._deny_wants_token else (claims["jti"],)
            if self._deny_list(*args):
                raise InvalidToken("revoked")
        if not allow_bound and confirmation_jkt(claims) is not None:
            raise InvalidToken("dpop_bound_token", "This access token is bound to a DPoP key; send it as "
                                                   "'Authorization: DPoP <token>' with a DPoP proof.")
        return claims

    def verify_dpop(self, token: str, proof: str | None, *, method: str, url: str | None
                    ) -> tuple[dict[str, Any], DpopProof]:
        """RFC 9449 §7.1: a token sent with ``Authorization: DPoP``: it must be bound (``cnf.jkt``)
        and the proof must be signed by that key, for this ``method`` and ``url``, with ``ath``
        the hash of this token. The proof is checked after the token, so a bad token never
        spends a proof id."""
        if self.dpop is None or url is None:
            raise InvalidToken("dpop_not_supported", "This service does not accept DPoP tokens.")
        claims = self.verify(token, allow_bound=True)
        jkt = confirmation_jkt(claims)
        if jkt is None:
            raise InvalidToken("not_dpop_bound", "This access token is not bound to a DPoP key; "
                                                 "send it as 'Authorization: Bearer <token>'.")
        checked = self.dpop.check(proof, method=method, url=url, access_token=token, jkt=jkt)
        return claims, checked


def _check_algorithms(algorithms: Collection[str], *, remote: bool) -> tuple[str, ...]:
    """RFC 8725 §3.1-3.2: an explicit allow-list, never ``none``, never symmetric and
    asymmetric together (one shared secret must not sit beside public keys)."""
    algs = tuple(algorithms)
    if not algs or isinstance(algorithms, str):
        raise ConfigError("Verifier algorithms must be a non-empty list, e.g. ['ES256'].")
    unknown = [a for a in algs if a not in SIGNING_ALGS]
    if unknown:
        raise ConfigError(f"Verifier algorithms {unknown} are not supported; choose from {', '.join(SIGNING_ALGS)}.")
    if any(a in SYMMETRIC_ALGS for a in algs):
        if set(algs) != set(SYMMETRIC_ALGS):
            raise ConfigError("HS256 cannot be mixed with asymmetric algorithms; pass algorithms=['HS256'] alone.")
        if remote:
            raise ConfigError("HS256 needs a static jwks with the shared secret; a published JWKS never holds one.")
        return SYMMETRIC_ALGS
    return algs
