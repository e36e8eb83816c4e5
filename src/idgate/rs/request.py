"""Authenticate a whole request at a resource server: ``Bearer`` (RFC 6750) or ``DPoP`` (RFC 9449 §7).

    auth = authenticate(verifier, headers, method="GET", url="https://api.example/things")
    auth.claims, auth.scheme, auth.proof      # or raises Refused (an OAuthError)

- ``Authorization: Bearer <token>``: the token must not be DPoP-bound (§7.2: a bound token
  without its proof proves nothing).
- ``Authorization: DPoP <token>`` with a ``DPoP`` proof header: the token must be bound to the
  key that signed the proof, and the proof must name this request and hash this token (§7.1).

A refusal is a :class:`Refused`: the status, the OAuth error and the ``WWW-Authenticate``
challenge a client library expects, for the scheme it used (a ``DPoP`` challenge lists the
accepted ``algs``; with DPoP on, a missing-token answer offers both schemes), and the
``DPoP-Nonce`` header when the proof must carry a nonce (§9).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from idgate.errors import InsufficientScope, InvalidDpopProof, InvalidToken, OAuthError, UseDpopNonce
from idgate.rs.bearer import access_token, challenge
from idgate.rs.dpop import DpopProof, proof_from_headers
from idgate.rs.verifier import Verifier

REALM = "idgate"
MISSING_TOKEN = "A bearer access token is required."


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A request whose access token (and DPoP proof, for ``scheme == "DPoP"``) passed."""

    claims: dict[str, Any]
    scheme: str
    proof: DpopProof | None = None


class Refused(OAuthError):
    """An access token refused at a resource server, rendered as RFC 6750 §3 / RFC 9449 §7.1 say.

    ``cause`` is the error underneath (``.reason`` for the log). A bad DPoP proof is 401 here
    (400 is for the token endpoint); a missing token gets a challenge without an error code
    (RFC 6750 §3.1)."""

    def __init__(self, cause: OAuthError, *, scheme: str = "Bearer", dpop_algs: Iterable[str] = (),
                 realm: str = REALM, missing: bool = False) -> None:
        self.cause = cause
        self.scheme = scheme
        self.realm = realm
        self.missing = missing
        self.algs = " ".join(dpop_algs)
        self.error = cause.error
        self.reason = getattr(cause, "reason", cause.detail or cause.error)
        self.status_code = 401 if isinstance(cause, (InvalidDpopProof, UseDpopNonce)) else cause.status_code
        super().__init__(cause.description, detail=cause.detail)

    def challenges(self) -> list[str]:
        """The ``WWW-Authenticate`` values, one per scheme offered."""
        if self.missing:
            offered = [challenge(self.realm)]
        else:
            scope = getattr(self.cause, "scope", None)
            offered = [challenge(self.realm, self.error, self.description, scope, scheme=self.scheme,
                                 algs=self.algs if self.scheme == "DPoP" else None)]
        if self.algs and (self.missing or self.scheme == "Bearer"):
            offered.append(challenge(self.realm, scheme="DPoP", algs=self.algs))
        return offered

    def headers(self) -> dict[str, str]:
        headers = {"WWW-Authenticate": ", ".join(self.challenges()), "Cache-Control": "no-store"}
        if isinstance(self.cause, UseDpopNonce):
            headers["DPoP-Nonce"] = self.cause.nonce
        return headers

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def refusal(verifier: Verifier | None, cause: OAuthError, scheme: str = "Bearer", *, realm: str = REALM,
            missing: bool = False) -> Refused:
    """:class:`Refused` for ``cause``, offering the DPoP ``algs`` this verifier accepts (if any)."""
    algs = verifier.dpop.algorithms if verifier is not None and verifier.dpop is not None else ()
    return Refused(cause, scheme=scheme, dpop_algs=algs, realm=realm, missing=missing)


def authenticate(verifier: Verifier, headers: Iterable[tuple[bytes, bytes]], *, method: str, url: str | None,
                 query_string: bytes = b"", missing: str = MISSING_TOKEN, realm: str = REALM) -> Authenticated:
    """The request's verified access token, or :class:`Refused`. ``url`` is the request URL the
    DPoP proof must name (``htu``), without query; None when the verifier takes bearer tokens only."""
    headers = list(headers)
    try:
        found = access_token(headers, query_string)
    except OAuthError as exc:
        raise refusal(verifier, exc, realm=realm) from None
    if found is None:
        raise refusal(verifier, InvalidToken("missing", missing), realm=realm, missing=True)
    scheme, token = found
    try:
        if scheme == "DPoP":
            claims, proof = verifier.verify_dpop(token, proof_from_headers(headers), method=method, url=url)
            return Authenticated(claims, "DPoP", proof)
        return Authenticated(verifier.verify(token), "Bearer")
    except OAuthError as exc:
        raise refusal(verifier, exc, scheme, realm=realm) from None


def authenticate_scope(verifier: Verifier, scope: Mapping[str, Any], *, missing: str = MISSING_TOKEN,
                       realm: str = REALM) -> Authenticated:
    """:func:`authenticate` for an ASGI ``scope`` (HTTP or WebSocket)."""
    method = "GET" if scope.get("type") == "websocket" else str(scope.get("method", "GET"))
    return authenticate(verifier, scope.get("headers", ()), method=method, url=request_url(verifier, scope),
                        query_string=scope.get("query_string", b""), missing=missing, realm=realm)


def request_url(verifier: Verifier, scope: Mapping[str, Any]) -> str | None:
    """The URL a DPoP proof names for this request: the verifier's ``public_url`` and the path the
    app sees (RFC 9449 §4.3 item 9: without query and fragment). Never built from the Host
    header. Behind a proxy that strips a prefix, put the prefix in ``public_url``."""
    if verifier.public_url is None:
        return None
    return verifier.public_url + str(scope.get("path", "/"))


def insufficient_scope(verifier: Verifier | None, auth: Authenticated, needed: str, description: str | None = None,
                       realm: str = REALM) -> Refused:
    """RFC 6750 §3.1 ``insufficient_scope`` (403), in the scheme the request used."""
    return refusal(verifier, InsufficientScope(needed, description), auth.scheme, realm=realm)


def has_scope(claims: Mapping[str, Any], needed: str) -> bool:
    return needed in str(claims.get("scope", "")).split()
