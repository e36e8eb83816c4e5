"""JWS compact verification, the fast path (RFC 7515 §5.2, RFC 8725 §3).

Signatures are checked by calling ``cryptography`` directly with keys built once per ``kid``
(see :mod:`idgate.jose.pubkeys`). Python JOSE libraries spend tens of microseconds above the
raw check; this module keeps every check and drops the overhead. It is allowed to exist only
because differential tests prove it gives joserfc's verdict (or a stricter, listed one) on
every Wycheproof JWS vector (``tests/jose/test_wycheproof_jws.py``) and every forgery
(``tests/rs/test_rs_differential.py``); ``reference.py`` is that joserfc path.

Every rejection raises :class:`idgate.errors.InvalidToken` with a short ``reason``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from typing import Any

from idgate.errors import InvalidToken
from idgate.jose.algorithms import ASYMMETRIC_ALGS
from idgate.jose.pubkeys import MAX_KID_LENGTH, VerifyKey, b64url_decode, load_jwks

DEFAULT_MAX_TOKEN_BYTES = 8192
# RFC 8725 §3.10 and RFC 7515 §4.1.2-4.1.6: a token must never choose its own key.
_KEY_REFERENCE_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c"})
# RFC 7515 §4.1.11 "crit": we implement no extensions, so any critical one is refused.
# RFC 7797 "b64" changes what is signed; RFC 7516 §4.1.3 "zip" belongs to JWE only.
_UNSUPPORTED_HEADERS = frozenset({"crit", "b64", "zip"})

KeyLookup = Callable[[str], VerifyKey | None]


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # RFC 7515 §5.2 step 4 / RFC 7519 §7.2 step 9: duplicate names MUST be rejected (or the
    # last one used); parsers disagreeing on which one wins is a classic smuggling bug.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate member name")
    return obj


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python extensions, not RFC 8259


_DECODER = json.JSONDecoder(object_pairs_hook=_object_without_duplicates, parse_constant=_refuse_constant)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """A UTF-8 JSON object with unique member names (RFC 8259 §4, §8.1); raises ValueError."""
    try:
        obj = _DECODER.decode(raw.decode("utf-8"))
    except RecursionError as exc:  # nesting deep enough to exhaust the parser
        raise ValueError("JSON nested too deeply") from exc
    if type(obj) is not dict:
        raise ValueError("not a JSON object")
    return obj


def decode_segment(segment: str) -> bytes:
    try:
        return b64url_decode(segment)
    except ValueError:
        raise InvalidToken("malformed") from None


def decode_json_segment(segment: str) -> dict[str, Any]:
    return parse_claims(decode_segment(segment))


def parse_claims(payload: bytes) -> dict[str, Any]:
    """A decoded header or JWT payload: a JSON object (RFC 7515 §5.2, RFC 7519 §7.2)."""
    try:
        return parse_json_object(payload)
    except ValueError:
        raise InvalidToken("malformed") from None


def split_compact(token: object, max_bytes: int) -> tuple[str, str, str]:
    """Exactly three segments of ASCII, size checked before anything is parsed."""
    if isinstance(token, bytes):
        if len(token) > max_bytes:
            raise InvalidToken("token_too_large")
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            raise InvalidToken("malformed") from None
    if not isinstance(token, str):
        raise InvalidToken("malformed")
    if len(token) > max_bytes:
        raise InvalidToken("token_too_large")
    if not token.isascii():
        raise InvalidToken("malformed")
    parts = token.split(".")
    if len(parts) != 3:  # RFC 7515 §7.1; five parts would be a JWE, more or fewer garbage
        raise InvalidToken("malformed")
    return parts[0], parts[1], parts[2]


def check_header(header: dict[str, Any], algorithms: Collection[str], typ: str | None) -> tuple[str, str]:
    """Header rules that need no key; returns (alg, kid)."""
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise InvalidToken("malformed")
    if alg.lower() == "none":  # RFC 8725 §3.1 / §2.1: unsecured JWS is never accepted
        raise InvalidToken("alg_none")
    if alg not in algorithms:
        raise InvalidToken("alg_not_allowed")
    if not _KEY_REFERENCE_HEADERS.isdisjoint(header):
        raise InvalidToken("embedded_key")
    if not _UNSUPPORTED_HEADERS.isdisjoint(header):
        raise InvalidToken("unsupported_header")
    if typ is not None:
        check_typ(header.get("typ"), typ)
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("missing_kid")
    return alg, kid


def check_typ(value: object, expected: str) -> None:
    """RFC 9068 §4 / RFC 8725 §3.11: explicit typing; media types compare case-insensitively
    and may carry the "application/" prefix (RFC 7515 §4.1.9)."""
    if not isinstance(value, str):
        raise InvalidToken("wrong_typ")
    value = value.lower()
    expected = expected.lower()
    if value != expected and value != "application/" + expected:
        raise InvalidToken("wrong_typ")


class CompactVerifier:
    """Verify compact JWS: returns (protected header, payload bytes) or raises InvalidToken.

    The key is chosen only by ``kid``; the algorithm is the key's own and must equal the
    header's (RFC 8725 §3.1). The payload is decoded only after the signature verified.

    Tokens from one issuer key share one header segment, so the outcome of parsing and
    checking a header that *passed* is remembered by its exact text (a pure function of it).
    The cache is bounded and emptied when full; headers that fail are never stored. Returned
    headers are shared: treat them as read-only.
    """

    HEADER_CACHE_SIZE = 64

    def __init__(
        self,
        find_key: KeyLookup,
        algorithms: Collection[str] = ASYMMETRIC_ALGS,
        *,
        typ: str | None = None,
        max_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
    ) -> None:
        self.find_key = find_key
        self.algorithms = frozenset(algorithms)
        self.typ = typ
        self.max_bytes = max_bytes
        self._headers: dict[str, tuple[dict[str, Any], str, str]] = {}

    def __call__(self, token: object) -> tuple[dict[str, Any], bytes]:
        header_b64, payload_b64, signature_b64 = split_compact(token, self.max_bytes)
        header, alg, kid = self._header(header_b64)
        key = self.find_key(kid) if len(kid) <= MAX_KID_LENGTH else None
        if key is None:
            raise InvalidToken("unknown_kid")
        if key.alg != alg:  # HS256 over a public key, RS256 over a PS256 key...: refused here
            raise InvalidToken("alg_key_mismatch")
        signature = decode_segment(signature_b64)
        signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
        if not key.check(signing_input, signature):
            raise InvalidToken("bad_signature")
        return header, decode_segment(payload_b64)

    def _header(self, header_b64: str) -> tuple[dict[str, Any], str, str]:
        cached = self._headers.get(header_b64)
        if cached is not None:
            return cached
        header = decode_json_segment(header_b64)
        alg, kid = check_header(header, self.algorithms, self.typ)
        if len(self._headers) >= self.HEADER_CACHE_SIZE:
            self._headers.clear()  # forged-header floods just cost a re-parse, never memory
        self._headers[header_b64] = (header, alg, kid)
        return header, alg, kid


def verify_compact(
    token: object,
    find_key: KeyLookup,
    algorithms: Collection[str] = ASYMMETRIC_ALGS,
    *,
    typ: str | None = None,
    max_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
) -> tuple[dict[str, Any], bytes]:
    """One-shot :class:`CompactVerifier` (no header cache carried between calls)."""
    return CompactVerifier(find_key, algorithms, typ=typ, max_bytes=max_bytes)(token)


def verify_compact_signature(
    token: object, jwk: Mapping[str, Any], algorithms: Collection[str] = ASYMMETRIC_ALGS
) -> tuple[dict[str, Any], bytes]:
    """Verify against one JWK (or a JWK Set); used by the Wycheproof and differential tests.

    ``oct`` keys are usable only when ``algorithms`` holds nothing but symmetric algorithms,
    the same "never mix" rule the :class:`idgate.rs.Verifier` applies.
    """
    jwks = jwk if "keys" in jwk else {"keys": [jwk]}
    symmetric_only = bool(algorithms) and all(a.startswith("HS") for a in algorithms)
    keys = load_jwks(jwks, algorithms, allow_symmetric=symmetric_only)
    return verify_compact(token, keys.get, algorithms)
