"""Access tokens: what a sample token shows to anyone who holds it."""

from __future__ import annotations

from idgate.audit.decode import (
    ACCESS_TOKEN_TYPES, DAY, HMAC_ALGS, HOUR, DecodedToken, decode_unverified, describe_expiry, human_duration,
    number, personal_claims,
)
from idgate.audit.model import Outcome, Skip, failed, passed, warned
from idgate.audit.registry import check
from idgate.audit.target import Target


def _token(target: Target) -> DecodedToken:
    return decode_unverified(target.sample_jwt())


@check("token.alg", group="tokens", title="The token is signed with a public-key algorithm",
       explanation="""The header's 'alg' says how the token was signed. 'none' means not at all. HS256 means
       a shared secret: every service that checks tokens could also forge them. ES256, RS256 and
       similar use a private key only the issuer holds.""",
       fix="Sign access tokens with ES256 (or another asymmetric algorithm) and publish the public key in the JWKS.")
def token_alg(target: Target) -> Outcome:
    token = _token(target)
    alg = token.alg
    if not alg or alg.lower() == "none":
        return failed(f"alg is {alg or '(missing)'!r}: the token is not signed.")
    if alg in HMAC_ALGS:
        return warned(f"alg is {alg}: signed with a shared secret that every verifying service must hold "
                      "(acceptable only for a single trusted service, with a long random secret).")
    return passed(f"alg is {alg}; kid {token.header.get('kid')!r}.")


@check("token.exp", group="tokens", title="The token has an expiry time (exp)",
       explanation="""'exp' is when the token stops working. Without it a stolen token works forever, and
       there is no way to take it back short of changing the signing key.""",
       fix="Always set 'exp'; idgate refuses to issue tokens without one.")
def token_exp(target: Target) -> Outcome:
    token = _token(target)
    if number(token.claims, "exp") is None:
        return failed("No numeric exp claim: the token never expires.")
    return passed(f"exp present: the sample token {describe_expiry(token.claims)}.")


@check("token.lifetime", group="tokens", title="The token lives minutes, not days",
       explanation="""A bearer token works for whoever holds it until it expires. The shorter its life, the
       less a leaked token is worth. Minutes (idgate: 15) with refresh tokens for long sessions is the
       usual balance; more than a day is too long.""",
       fix="Issue access tokens for at most an hour (15 minutes is common) and use refresh tokens for long sessions.")
def token_lifetime(target: Target) -> Outcome:
    claims = _token(target).claims
    exp, iat = number(claims, "exp"), number(claims, "iat")
    if exp is None:
        raise Skip("the token has no exp (see token.exp)")
    if iat is None:
        raise Skip("the token has no iat (issued-at), so its lifetime cannot be computed")
    span = exp - iat
    text = f"exp - iat = {int(span)} s ({human_duration(span)})."
    if span > DAY:
        return failed(text + " More than a day.")
    if span > HOUR:
        return warned(text + " More than an hour.")
    return passed(text)


@check("token.typ", group="tokens", title="The token says it is an access token (typ at+jwt)",
       explanation="""'typ: at+jwt' (RFC 9068) marks a JWT as an access token, so a service cannot be fooled
       into accepting an ID token or another kind of JWT from the same issuer in its place.""",
       fix="Set the header 'typ' to 'at+jwt' on access tokens, and have services require it.")
def token_typ(target: Target) -> Outcome:
    typ = _token(target).header.get("typ")
    if isinstance(typ, str) and typ.lower() in ACCESS_TOKEN_TYPES:
        return passed(f"typ is {typ!r}.")
    return warned(f"typ is {typ!r}, not 'at+jwt'.")


@check("token.audience", group="tokens", title="The token names its audience (aud)",
       explanation="""'aud' says which service a token is for. Without it, a token a user gave to one
       service could be replayed by that service against another one.""",
       fix="Set 'aud' to the service (resource server) the token is for, and have every service check it.")
def token_audience(target: Target) -> Outcome:
    aud = _token(target).claims.get("aud")
    if aud in (None, "", []):
        return failed("No aud claim.")
    return passed(f"aud is {aud!r}.")


@check("token.issuer", group="tokens", title="The token names its issuer (iss)",
       explanation="""'iss' says who issued the token. Services must check it equals the provider they
       trust, or tokens from another provider could be accepted.""",
       fix="Set 'iss' to the issuer URL from the discovery document.")
def token_issuer(target: Target) -> Outcome:
    iss = _token(target).claims.get("iss")
    if not isinstance(iss, str) or not iss:
        return failed("No iss claim.")
    try:
        expected = target.discovery().get("issuer")
    except Skip:
        expected = None
    if isinstance(expected, str) and iss != expected:
        return failed(f"iss is {iss!r} but the discovery document's issuer is {expected!r}.")
    return passed(f"iss is {iss!r}.")


@check("token.personal-data", group="tokens", title="No personal data readable in the token",
       explanation="""A signed JWT (JWS) is not encrypted: its middle part is only base64, which anyone
       can decode (try 'idgate inspect'). Email addresses, phone numbers or names in it can be read
       from logs, browser storage and every service the token passes through.""",
       fix="""Leave personal data out of access tokens and let services ask the userinfo endpoint; if it
       must travel in the token, encrypt the token (JWE).""")
def personal_data(target: Target) -> Outcome:
    found = personal_claims(_token(target).claims)
    if found:
        return warned(f"Readable by anyone holding the token: {', '.join(found)} (values not shown here).")
    return passed("None of email, phone_number, address, name, given_name, family_name, birthdate are present.")
