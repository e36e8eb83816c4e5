"""DPoP proofs (RFC 9449): check that a request comes from the holder of a key.

A DPoP proof is a small JWT the client signs for each request with a key pair it keeps; its
header carries the public key (``jwk``), its claims name the request (``htm``, ``htu``), when
(``iat``), a unique id (``jti``) and, sent to a resource server, the hash of the access token
(``ath``). A token bound to that key (``cnf.jkt``, §6) is worthless to someone who stole only
the token. :class:`ProofChecker` runs the checks of §4.3, in this order, each cheap before the
next, and raises :class:`idgate.errors.InvalidDpopProof` (or ``UseDpopNonce``) with a short
``reason``; it never returns a bool and never raises anything else for a bad proof:

1. exactly one ``DPoP`` header, at most ``max_bytes``, compact JWS of three strict segments;
2. the header: ``typ`` ``dpop+jwt``, ``alg`` from the asymmetric allow-list (never ``none`` or
   HS*), a ``jwk`` that is a public key of that algorithm (no private members), no key
   references (``jku``, ``x5u``, ``x5c``) and no ``crit``;
3. the signature, with that ``jwk`` (``cryptography`` directly, the code path the Wycheproof
   and differential tests hold to joserfc's verdict, see :mod:`idgate.jose.verify`);
4. the claims: ``jti``, ``htm`` = the request method, ``htu`` = the request URI without query
   and fragment (both normalised, RFC 3986 §6.2.2-6.2.3), ``iat`` within ``max_age`` in the
   past and ``leeway`` in the future, ``ath`` when an access token is presented;
5. the server nonce (§8, §9) when ``nonces`` is set: missing or stale gives ``use_dpop_nonce``
   with a fresh nonce for the ``DPoP-Nonce`` header;
6. the key: its RFC 7638 thumbprint must equal ``jkt`` when the token is bound (§6.1);
7. the ``jti`` must not have been seen (replay cache: in memory for one process,
   :class:`RedisReplayCache` when several processes or machines serve).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import math
import re
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from idgate.errors import ConfigError, InvalidDpopProof, InvalidToken, UseDpopNonce
from idgate.jose.keys import jwk_thumbprint
from idgate.jose.pubkeys import VerifyKey, load_jwk
from idgate.jose.verify import check_typ, decode_segment, parse_claims, split_compact
from idgate.rs.dpop_state import DpopNonces, MemoryReplayCache, ReplayCache

# RFC 9449 §5.1 dpop_signing_alg_values_supported: asymmetric only (§4.2 "MUST NOT be none or an
# identifier for a symmetric algorithm").
DPOP_ALGS: tuple[str, ...] = ("ES256", "ES384", "EdDSA", "PS256", "RS256")
PROOF_TYP = "dpop+jwt"
DEFAULT_MAX_PROOF_BYTES = 8192  # an RSA-4096 proof with ath is about 2.5 KB
MAX_JTI_LENGTH = 256
MAX_HTU_LENGTH = 2048
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_KEY_REFERENCES = frozenset({"jku", "x5u", "x5c"})  # the key is the jwk header, nothing else (a kid is harmless)
_UNSUPPORTED = frozenset({"crit", "b64", "zip"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


@dataclass(frozen=True, slots=True)
class DpopProof:
    """A proof that passed every check: the key's thumbprint and what the proof said."""

    jkt: str
    jti: str
    iat: float
    htm: str
    htu: str
    nonce: str | None


def access_token_hash(token: str) -> str:
    """RFC 9449 §4.2 ``ath``: base64url of the SHA-256 of the access token's ASCII."""
    digest = hashlib.sha256(token.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@functools.lru_cache(maxsize=1024)  # clients and services repeat a few URLs; parsing one costs ~20 µs
def normalize_htu(url: str) -> str:
    """The request URI as ``htu`` compares it (RFC 9449 §4.3 item 9): no query or fragment,
    scheme and host lower-cased, the default port dropped, percent-escapes of unreserved
    characters decoded and the others upper-cased, dot segments removed, an empty path "/".
    Raises ValueError for anything that is not an absolute http(s) URI."""
    if not isinstance(url, str) or len(url) > MAX_HTU_LENGTH or not url.isascii():
        raise ValueError("htu is not an ASCII URI")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None or parts.password is not None:
        raise ValueError("htu is not an absolute http(s) URI")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port  # raises ValueError for a port out of range or not a number
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return f"{scheme}://{netloc}{_normalize_path(parts.path)}"


def _normalize_path(path: str) -> str:
    def escape(match: re.Match[str]) -> str:
        char = unquote(match.group(0))
        return char if char in _UNRESERVED else match.group(0).upper()

    path = _PERCENT.sub(escape, path or "/")
    segments: list[str] = []
    for segment in path.split("/")[1:] if path.startswith("/") else path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment != ".":
            segments.append(segment)
    if path.endswith(("/.", "/..")):
        segments.append("")
    return "/" + "/".join(quote(s, safe="%!$&'()*+,;=:@-._~") for s in segments)


def proof_from_headers(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The one ``DPoP`` request header, None when there is none (RFC 9449 §4.3 item 1: "not more
    than one"; a comma-joined value is several headers folded by a proxy)."""
    values = [value for name, value in headers if name.lower() == b"dpop"]
    if not values:
        return None
    if len(values) > 1 or b"," in values[0]:
        raise InvalidDpopProof("several_dpop_headers")
    try:
        return values[0].decode("ascii").strip()
    except UnicodeDecodeError:
        raise InvalidDpopProof("malformed") from None


@dataclass(frozen=True, slots=True)
class _ProofKey:
    alg: str
    key: VerifyKey
    jkt: str


class ProofChecker:
    """Checks DPoP proofs (RFC 9449 §4.3); see the module docstring for the order of checks.

    Clients reuse one key, so a proof header (``typ``, ``alg``, ``jwk``) repeats exactly: the
    outcome of checking one that *passed* (the key built, its thumbprint) is kept by its exact
    text, bounded and emptied when full; headers that fail are never stored."""

    HEADER_CACHE_SIZE = 256

    def __init__(
        self,
        *,
        algorithms: Collection[str] = DPOP_ALGS,
        max_age: int = 60,
        leeway: int = 5,
        max_bytes: int = DEFAULT_MAX_PROOF_BYTES,
        replay: ReplayCache | None = None,
        nonces: DpopNonces | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        algs = tuple(algorithms)
        if isinstance(algorithms, str) or not algs or any(a not in DPOP_ALGS for a in algs):
            raise ConfigError(f"DPoP algorithms must be a non-empty list from {', '.join(DPOP_ALGS)}.")
        if not 1 <= max_age <= 3600 or not 0 <= leeway <= 300:
            raise ConfigError("DPoP max_age is 1..3600 seconds and leeway 0..300 seconds.")
        self.algorithms = algs
        self.max_age = max_age
        self.leeway = leeway
        self.max_bytes = max_bytes
        self.replay: ReplayCache = replay if replay is not None else MemoryReplayCache(clock=clock)
        self.nonces = nonces
        self._clock = clock
        self._headers: dict[str, _ProofKey] = {}

    def check(self, proof: str | None, *, method: str, url: str, access_token: str | None = None,
              jkt: str | None = None) -> DpopProof:
        """The checked proof for a request to ``method url``; ``access_token`` when one is
        presented with it (then ``ath`` is required), ``jkt`` when the token is bound."""
        if proof is None or proof == "":
            raise InvalidDpopProof("missing_dpop_proof")
        try:
            header_b64, payload_b64, signature_b64 = split_compact(proof, self.max_bytes)
        except InvalidToken as exc:
            raise InvalidDpopProof("proof_too_large" if exc.reason == "token_too_large" else "malformed") from None
        proof_key = self._proof_key(header_b64)
        signature = _segment(signature_b64)
        if not proof_key.key.check(f"{header_b64}.{payload_b64}".encode("ascii"), signature):
            raise InvalidDpopProof("bad_signature")
        try:
            claims = parse_claims(_segment(payload_b64))
        except InvalidToken:
            raise InvalidDpopProof("malformed") from None
        checked = self._claims(claims, method, url, access_token, proof_key.jkt)
        if self.nonces is not None and not self.nonces.is_valid(checked.nonce):
            raise UseDpopNonce(self.nonces.current())
        if jkt is not None and not hmac.compare_digest(jkt, proof_key.jkt):
            raise InvalidDpopProof("key_mismatch")
        replay_key = hashlib.sha256(f"{proof_key.jkt}\x00{checked.jti}".encode()).hexdigest()[:40]
        if not self.replay.first_use(replay_key, checked.iat, checked.iat + self.max_age + 1):
            raise InvalidDpopProof("replayed_jti")
        return checked

    def _proof_key(self, header_b64: str) -> _ProofKey:
        cached = self._headers.get(header_b64)
        if cached is not None:
            return cached
        try:
            header = parse_claims(_segment(header_b64))
        except InvalidToken:
            raise InvalidDpopProof("malformed") from None
        try:
            check_typ(header.get("typ"), PROOF_TYP)
        except InvalidToken:
            raise InvalidDpopProof("wrong_typ") from None
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise InvalidDpopProof("malformed")
        if alg.lower() == "none":
            raise InvalidDpopProof("alg_none")
        if alg not in self.algorithms:
            raise InvalidDpopProof("alg_not_allowed")
        if not _KEY_REFERENCES.isdisjoint(header) or not _UNSUPPORTED.isdisjoint(header):
            raise InvalidDpopProof("unsupported_header")
        jwk = header.get("jwk")
        if not isinstance(jwk, dict):
            raise InvalidDpopProof("missing_jwk")
        if not _PRIVATE_MEMBERS.isdisjoint(jwk):
            raise InvalidDpopProof("private_key_in_jwk")  # §4.3 item 7
        key = load_jwk({**jwk, "kid": "dpop", "alg": alg}, (alg,))
        if key is None or ("alg" in jwk and jwk["alg"] != alg):
            raise InvalidDpopProof("unusable_jwk")  # wrong type for alg, weak RSA, off the curve...
        try:
            jkt = jwk_thumbprint(jwk)
        except ValueError:
            raise InvalidDpopProof("unusable_jwk") from None
        if len(self._headers) >= self.HEADER_CACHE_SIZE:
            self._headers.clear()
        found = self._headers[header_b64] = _ProofKey(alg=alg, key=key, jkt=jkt)
        return found

    def _claims(self, claims: dict[str, Any], method: str, url: str, access_token: str | None,
                jkt: str) -> DpopProof:
        jti, htm, htu, iat = claims.get("jti"), claims.get("htm"), claims.get("htu"), claims.get("iat")
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
            raise InvalidDpopProof("missing_jti")
        if not isinstance(htm, str) or htm != method.upper():
            raise InvalidDpopProof("wrong_htm")
        if not isinstance(htu, str):
            raise InvalidDpopProof("wrong_htu")
        try:
            if normalize_htu(htu) != normalize_htu(url):
                raise InvalidDpopProof("wrong_htu")
        except ValueError:
            raise InvalidDpopProof("wrong_htu") from None
        if type(iat) not in (int, float) or not math.isfinite(iat):
            raise InvalidDpopProof("missing_iat")
        now = self._clock()
        if iat < now - self.max_age:
            raise InvalidDpopProof("stale_iat")
        if iat > now + self.leeway:
            raise InvalidDpopProof("future_iat")
        if access_token is not None:
            ath = claims.get("ath")
            if not isinstance(ath, str):
                raise InvalidDpopProof("missing_ath")
            if not hmac.compare_digest(ath.encode("ascii", "replace"), access_token_hash(access_token).encode()):
                raise InvalidDpopProof("wrong_ath")
        nonce = claims.get("nonce")
        return DpopProof(jkt=jkt, jti=jti, iat=float(iat), htm=htm, htu=htu,
                         nonce=nonce if isinstance(nonce, str) else None)


def _segment(segment: str) -> bytes:
    try:
        return decode_segment(segment)
    except InvalidToken:
        raise InvalidDpopProof("malformed") from None
