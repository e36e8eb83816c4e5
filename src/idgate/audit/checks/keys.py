"""Discovery and signing keys: where the public keys come from and what they are."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlsplit

from idgate.audit.model import Outcome, Skip, failed, passed, skipped, warned
from idgate.audit.registry import check
from idgate.audit.target import Target

PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
MIN_RSA_BITS = 2048
GOOD_CURVES = {"EC": ("P-256", "P-384", "P-521"), "OKP": ("Ed25519", "Ed448")}
ALG_LISTS = ("id_token_signing_alg_values_supported", "access_token_signing_alg_values_supported",
             "userinfo_signing_alg_values_supported", "introspection_signing_alg_values_supported")


def _keys(target: Target) -> list[dict[str, Any]]:
    return [k for k in target.jwks()["keys"] if isinstance(k, dict)]


def _label(jwk: dict[str, Any], index: int) -> str:
    kid = jwk.get("kid")
    return f"kid {kid}" if isinstance(kid, str) else f"key #{index + 1} (no kid)"


@check("discovery.document", group="keys", title="The discovery document is consistent and HTTPS-only",
       explanation="""The discovery document (/.well-known/openid-configuration) tells clients where to
       log in and where the public keys are. Its 'issuer' must be exactly this server's URL, or a client
       could be tricked into mixing up two providers, and every address in it must be https://.""",
       fix="Publish the discovery document with issuer equal to the public https:// URL and only https:// endpoints.")
def discovery_document(target: Target) -> Outcome:
    target.require_https()
    try:
        doc = target.discovery()
    except Skip as exc:
        return warned(f"{exc.reason}. Without it clients must be configured by hand, and most checks below skip.")
    problems = []
    issuer = doc.get("issuer")
    if not isinstance(issuer, str) or issuer.rstrip("/") != target.url.rstrip("/"):
        problems.append(f"issuer is {issuer!r}, not {target.url!r}")
    plain = [f"{name}={value}" for name, value in doc.items()
             if (name.endswith("_endpoint") or name.endswith("_uri")) and isinstance(value, str)
             and urlsplit(value).scheme != "https"]
    if plain:
        problems.append("not https: " + ", ".join(plain))
    where = target.discovery_url
    if problems:
        return failed(f"{where}: " + "; ".join(problems) + ".")
    return passed(f"{where}: issuer {issuer}; all endpoints are https://.")


@check("jwks.https", group="keys", title="The public keys (JWKS) are served over HTTPS",
       explanation="""Services check token signatures with the keys at jwks_uri. If that address is plain
       HTTP, anyone on the path can swap in their own key and every service would accept their forged
       tokens.""",
       fix="Serve the JWK Set at an https:// jwks_uri, and have services refuse any other.")
def jwks_https(target: Target) -> Outcome:
    uri = target.endpoint("jwks_uri")
    if uri is None:
        target.discovery()
        return failed("The discovery document names no jwks_uri, so services cannot find the public keys.")
    if urlsplit(uri).scheme != "https":
        return failed(f"jwks_uri is {uri}: plain HTTP.")
    keys = _keys(target)
    return passed(f"{uri} serves {len(keys)} key(s) over HTTPS.")


@check("jwks.no-private", group="keys", title="The JWKS holds public keys only",
       explanation="""A JWK Set is public. If it contains private key parts ('d', 'p', 'q'... for RSA and
       EC keys) or a shared secret ('k'), anyone who downloads it can sign tokens that every service
       accepts.""",
       fix="""Publish only the public members (kty, crv, x, y, n, e, kid, alg, use); treat the exposed keys
       as stolen: rotate them now.""")
def no_private(target: Target) -> Outcome:
    leaks = []
    keys = _keys(target)
    for index, jwk in enumerate(keys):
        members = [m for m in PRIVATE_MEMBERS if m in jwk]
        if members:
            leaks.append(f"{_label(jwk, index)} has private member(s) {', '.join(members)}")
    if leaks:
        return failed("; ".join(leaks) + ".")
    return passed(f"{len(keys)} key(s), none with d, p, q, dp, dq, qi, oth or k.")


@check("jwks.key-strength", group="keys", title="Signing keys are strong enough",
       explanation="""Short keys can be broken: RSA keys need at least 2048 bits; elliptic-curve keys must
       use a standard curve (P-256, P-384, P-521, Ed25519).""",
       fix="Generate a new key (ES256 on P-256 is idgate's default), publish it, and retire the weak one.")
def key_strength(target: Target) -> Outcome:
    weak, seen = [], []
    for index, jwk in enumerate(_keys(target)):
        kty = jwk.get("kty")
        label = _label(jwk, index)
        if kty == "RSA":
            bits = _rsa_bits(jwk)
            seen.append(f"{label}: RSA {bits} bits")
            if bits < MIN_RSA_BITS:
                weak.append(f"{label}: RSA key of {bits} bits (minimum {MIN_RSA_BITS})")
        elif kty in GOOD_CURVES:
            crv = jwk.get("crv")
            seen.append(f"{label}: {kty} {crv}")
            if crv not in GOOD_CURVES[kty]:
                weak.append(f"{label}: unexpected curve {crv!r}")
        elif kty == "oct":
            weak.append(f"{label}: a shared secret (kty oct) published for everyone")
        else:
            weak.append(f"{label}: unknown key type {kty!r}")
    if weak:
        return failed("; ".join(weak) + ".")
    if not seen:
        return skipped("The JWK Set is empty.")
    return passed("; ".join(seen) + ".")


@check("jwks.unique-kid", group="keys", title="Every key has its own key id (kid)",
       explanation="""A token names the key that signed it by its 'kid'. If keys lack a kid or share one,
       services cannot pick the right key unambiguously, which breaks key rotation and can make them
       try the wrong key.""",
       fix="Give each key a unique kid (idgate uses the RFC 7638 thumbprint of the key).")
def unique_kid(target: Target) -> Outcome:
    keys = _keys(target)
    kids = [k.get("kid") for k in keys]
    missing = sum(1 for kid in kids if not isinstance(kid, str) or not kid)
    dupes = sorted({kid for kid in kids if isinstance(kid, str) and kid and kids.count(kid) > 1})
    problems = ([f"{missing} key(s) without a kid"] if missing else []) + \
        ([f"kid used more than once: {', '.join(dupes)}"] if dupes else [])
    if problems:
        return failed("; ".join(problems) + ".")
    return passed(f"{len(keys)} key(s), {len(set(kids))} distinct kid(s).")


@check("keys.algorithms", group="keys", title="No 'none' or shared-secret (HS*) signing algorithms advertised",
       explanation="""'none' means an unsigned token: anyone can write one. HS256 uses one shared secret
       to sign and to check, so with public keys around a confused verifier may accept a token 'signed'
       with the public key (algorithm confusion). An issuer with public keys should advertise only
       public-key algorithms such as ES256 or RS256.""",
       fix="List only asymmetric algorithms (ES256, ES384, EdDSA, RS256, PS256) in discovery and on the keys.")
def algorithms(target: Target) -> Outcome:
    doc = target.discovery()
    advertised: dict[str, list[str]] = {}
    for name in ALG_LISTS:
        values = doc.get(name)
        if isinstance(values, list):
            for alg in values:
                advertised.setdefault(str(alg), []).append(name)
    try:
        keys = _keys(target)
    except Skip:
        keys = []
    for jwk in keys:
        if isinstance(jwk.get("alg"), str):
            advertised.setdefault(jwk["alg"], []).append("jwks")
    asymmetric = any(k.get("kty") in ("RSA", "EC", "OKP") for k in keys) or \
        any(a[:2] in ("RS", "PS", "ES", "Ed") for a in advertised)
    bad = [f"{alg} (in {', '.join(where)})" for alg, where in advertised.items()
           if alg.lower() == "none" or (asymmetric and alg.upper().startswith("HS"))]
    if bad:
        return failed("Advertised: " + "; ".join(bad) + ".")
    if not advertised:
        return skipped("Neither the discovery document nor the keys name an algorithm.")
    return passed("Advertised: " + ", ".join(sorted(advertised)) + ".")


def _rsa_bits(jwk: dict[str, Any]) -> int:
    n = jwk.get("n")
    if not isinstance(n, str):
        return 0
    try:
        raw = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))
    except ValueError:
        return 0
    return int.from_bytes(raw, "big").bit_length()
