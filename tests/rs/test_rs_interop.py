"""Interoperability with PyJWT, in both directions."""

from __future__ import annotations

import jwt as pyjwt
import pytest
from rs_support import AUDIENCE, ISSUER, NOW, claims, private_key, signing_key, token, verifier

from idgate.jose import ASYMMETRIC_ALGS
from idgate.rs import InvalidToken


@pytest.mark.parametrize("alg", ASYMMETRIC_ALGS)
def test_pyjwt_accepts_our_tokens(alg: str) -> None:
    key = signing_key(alg)
    public = private_key(key).public_key()
    decoded = pyjwt.decode(
        token(key, now=NOW),
        public,
        algorithms=[alg],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert decoded == claims()
    assert pyjwt.get_unverified_header(token(key)) == {"alg": alg, "kid": key.kid, "typ": "at+jwt"}


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_we_accept_pyjwt_tokens_with_the_right_header(alg: str) -> None:
    key = signing_key(alg)
    tok = pyjwt.encode(claims(), private_key(key), algorithm=alg, headers={"kid": key.kid, "typ": "at+jwt"})
    assert verifier(key).verify(tok) == claims()


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_we_refuse_pyjwt_tokens_with_its_default_header(alg: str) -> None:
    key = signing_key(alg)
    no_kid = pyjwt.encode(claims(), private_key(key), algorithm=alg)  # typ JWT, no kid
    with pytest.raises(InvalidToken) as info:
        verifier(key).verify(no_kid)
    assert info.value.reason == "wrong_typ"
    with_kid = pyjwt.encode(claims(), private_key(key), algorithm=alg, headers={"kid": key.kid})
    with pytest.raises(InvalidToken) as info:
        verifier(key).verify(with_kid)
    assert info.value.reason == "wrong_typ"  # an ID-token-shaped JWT is not an access token
