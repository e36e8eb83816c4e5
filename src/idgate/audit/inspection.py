"""``idgate inspect``: everything a token shows, and (optionally) whether it verifies.

Decoding never trusts the token. Verification, when asked for with a JWK Set, goes through
:class:`idgate.rs.Verifier`, exactly as a service using idgate would check it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from idgate.audit.decode import (
    BUILTIN_SECRETS, HMAC_ALGS, DecodedToken, TokenFlag, decode_unverified, describe_time, flag_token,
    guess_hmac_secret, number,
)
from idgate.audit.model import Verdict
from idgate.audit.tlsprobe import client_context
from idgate.errors import IdgateError, InvalidToken
from idgate.jose.algorithms import ASYMMETRIC_ALGS, SYMMETRIC_ALGS

TIME_CLAIMS = ("exp", "iat", "nbf", "auth_time")
MAX_JWKS_BYTES = 512 * 1024


@dataclass
class Inspection:
    token: DecodedToken
    flags: list[TokenFlag] = field(default_factory=list)
    signature: tuple[bool, str] | None = None  # (verified, what the verifier said)

    @property
    def failed(self) -> bool:
        refused = self.signature is not None and not self.signature[0]
        return refused or any(f.verdict is Verdict.FAIL for f in self.flags)

    def as_dict(self) -> dict[str, Any]:
        return {"header": self.token.header, "claims": self.token.claims,
                "times": {k: describe_time(v) for k in TIME_CLAIMS if (v := number(self.token.claims, k)) is not None},
                "flags": [{"verdict": f.verdict.value, "code": f.code, "message": f.message} for f in self.flags],
                "signature": None if self.signature is None else
                {"verified": self.signature[0], "detail": self.signature[1]}}


class InspectError(IdgateError):
    error = "inspect_error"


def load_jwks(source: str, *, ca: Path | None = None, timeout: float = 5.0) -> dict[str, Any]:
    """A JWK Set from an https:// URL or a file (a single JWK is wrapped into a set)."""
    scheme = urlsplit(source).scheme
    if scheme in ("http", "https"):
        if scheme != "https":
            raise InspectError(f"--jwks {source}: keys fetched over plain HTTP could have been swapped; use https://.")
        try:
            with httpx.Client(verify=client_context(ca), timeout=timeout, trust_env=False) as client:
                response = client.get(source, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise InspectError(f"--jwks {source}: {exc}") from None
        if response.status_code != 200 or len(response.content) > MAX_JWKS_BYTES:
            raise InspectError(f"--jwks {source} answered {response.status_code}")
        raw = response.text
    else:
        try:
            raw = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise InspectError(f"--jwks {source}: {exc.strerror or exc}") from None
    try:
        doc = json.loads(raw)
    except ValueError:
        raise InspectError(f"--jwks {source} is not JSON") from None
    if isinstance(doc, dict) and "kty" in doc:
        doc = {"keys": [doc]}
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise InspectError(f"--jwks {source} is not a JWK Set (no 'keys' list)")
    return doc


def verify(token: str, decoded: DecodedToken, jwks: dict[str, Any], *, issuer: str | None,
           audience: str | None) -> tuple[bool, str]:
    """Check signature and claims with idgate.rs.Verifier. Issuer and audience default to the
    token's own (so only the signature, times and shape are really tested unless given)."""
    from idgate.rs import Verifier

    alg = decoded.alg
    if alg in SYMMETRIC_ALGS:
        algorithms: tuple[str, ...] = SYMMETRIC_ALGS
    elif alg in ASYMMETRIC_ALGS:
        algorithms = (alg,)
    else:
        return False, f"refused: alg {alg or '(missing)'!r} is never accepted by idgate.rs"
    aud = decoded.claims.get("aud")
    aud = aud[0] if isinstance(aud, list) and aud else aud
    iss = issuer or decoded.claims.get("iss")
    audience = audience or (aud if isinstance(aud, str) else None)
    typ = decoded.header.get("typ")
    try:
        verifier = Verifier(issuer=iss if isinstance(iss, str) and iss else "(none)", audience=audience or "(none)",
                            jwks=jwks, algorithms=algorithms, typ=typ if isinstance(typ, str) else None)  # type: ignore[arg-type]
        verifier.verify(token, allow_bound=True)
    except InvalidToken as exc:
        return False, f"refused by idgate.rs.Verifier: {exc.reason}"
    except IdgateError as exc:
        return False, f"could not verify: {exc.description}"
    told = [] if issuer and audience else ["issuer/audience taken from the token itself"]
    return True, "signature and claims verified by idgate.rs.Verifier" + (f" ({told[0]})" if told else "")


def _wordlist(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            yield line.rstrip("\r\n")


def inspect_token(token: str, *, jwks: dict[str, Any] | None = None, issuer: str | None = None,
                  audience: str | None = None, wordlist: Path | None = None, now: float | None = None) -> Inspection:
    decoded = decode_unverified(token)
    result = Inspection(decoded, flag_token(decoded, time.time() if now is None else now))
    if decoded.alg in HMAC_ALGS:
        secret = guess_hmac_secret(decoded, BUILTIN_SECRETS)
        if secret is None and wordlist is not None:
            secret = guess_hmac_secret(decoded, _wordlist(wordlist))
        if secret is not None:
            result.flags.append(TokenFlag(Verdict.FAIL, "hmac-secret-guessed",
                                          f"the HMAC secret is {secret!r}: anyone can sign tokens with it. "
                                          "Use a random secret of at least 32 bytes, or better ES256."))
        else:
            tried = "the built-in list" + (f" and {wordlist}" if wordlist else "")
            result.flags.append(TokenFlag(Verdict.PASS, "hmac-secret", f"the HMAC secret is not in {tried}."))
    if jwks is not None:
        result.signature = verify(token.strip(), decoded, jwks, issuer=issuer, audience=audience)
    return result
