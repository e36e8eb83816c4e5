"""The fast signing path (``idgate.jose.jws.sign_jwt``) against joserfc and PyJWT.

For every algorithm idgate signs with: joserfc and PyJWT verify each token with the public key
and read back exactly the header and claims that joserfc's own ``jwt.encode`` produces, and the
deterministic algorithms (RS256 and EdDSA: no randomness in the signature) give byte-identical
tokens. A signature made with the wrong key, hash or encoding would fail here.
"""

from __future__ import annotations

import base64
import json
import warnings

import jwt as pyjwt
import pytest
from joserfc import jwt as jose_jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet

from idgate.jose.jws import _signer, sign_jwt, sign_jwt_reference
from idgate.jose.keys import SigningKey, generate_signing_key

ALGS = ["ES256", "ES384", "EdDSA", "RS256", "PS256"]
CLAIMS = {"iss": "https://idp.example", "sub": "user-1", "aud": "https://api.example", "exp": 2_000_000_000,
          "iat": 1_700_000_000, "jti": "abc", "scope": "things:read", "name": "Zoë Ünicode ✓", "n": [1, 2.5, None],
          "nested": {"ok": True}}


@pytest.fixture(scope="module", params=ALGS)
def key(request: pytest.FixtureRequest) -> SigningKey:
    return generate_signing_key(request.param)


def _parts(token: str) -> tuple[dict, dict]:  # type: ignore[type-arg]
    head, body, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return json.loads(base64.urlsafe_b64decode(pad(head))), json.loads(base64.urlsafe_b64decode(pad(body)))


def _joserfc_verifies(token: str, key: SigningKey) -> dict:  # type: ignore[type-arg]
    public = KeySet.import_key_set({"keys": [key.public_jwk]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        decoded = jose_jwt.decode(token, public, algorithms=[key.alg])
    return dict(decoded.claims)


def _pyjwt_verifies(token: str, key: SigningKey) -> dict:  # type: ignore[type-arg]
    public = pyjwt.PyJWK(key.public_jwk).key
    return pyjwt.decode(token, public, algorithms=[key.alg], audience="https://api.example")


def test_fast_path_is_used_for_every_asymmetric_alg(key: SigningKey) -> None:
    assert _signer(key) is not None


def test_tokens_verify_in_joserfc_and_pyjwt_and_read_the_same(key: SigningKey) -> None:
    fast, reference = sign_jwt(dict(CLAIMS), key, "at+jwt"), sign_jwt_reference(dict(CLAIMS), key, "at+jwt")
    assert _parts(fast) == _parts(reference)
    assert _parts(fast)[0] == {"alg": key.alg, "kid": key.kid, "typ": "at+jwt"}
    for token in (fast, reference):
        assert _joserfc_verifies(token, key) == CLAIMS
        assert _pyjwt_verifies(token, key) == CLAIMS
    if key.alg in ("RS256", "EdDSA"):  # deterministic signatures: the very same bytes
        assert fast == reference


@pytest.mark.parametrize(("alg", "width"), [("ES256", 64), ("ES384", 96), ("EdDSA", 64), ("RS256", 384)])
def test_signature_encoding_is_fixed_width(alg: str, width: int) -> None:
    """RFC 7518 §3.4: ECDSA signatures are R || S, each exactly the curve's size (no DER, no
    trimmed leading zeros - a 1-in-256 case that many signatures exercise); RSA ones are as
    long as the modulus (3072 bits here)."""
    key = generate_signing_key(alg)
    widths = {alg: width}
    for i in range(300):
        sig = sign_jwt({"i": i}, key, "JWT").split(".")[2]
        assert len(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))) == widths[key.alg]


def test_tampering_is_detected(key: SigningKey) -> None:
    token = sign_jwt(dict(CLAIMS), key, "at+jwt")
    head, body, sig = token.split(".")
    forged_body = base64.urlsafe_b64encode(json.dumps({**CLAIMS, "sub": "admin"}).encode()).rstrip(b"=").decode()
    with pytest.raises(pyjwt.InvalidSignatureError):
        _pyjwt_verifies(f"{head}.{forged_body}.{sig}", key)


def test_hs256_keeps_joserfc() -> None:
    key = generate_signing_key("HS256")
    assert _signer(key) is None
    token = sign_jwt({"sub": "x"}, key, "JWT")
    assert pyjwt.decode(token, key.jose_key.raw_value, algorithms=["HS256"]) == {"sub": "x"}
