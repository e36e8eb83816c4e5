"""Benchmark: idgate's Verifier against PyJWT, joserfc and a bare cryptography check.

    .venv/bin/python bench/bench_verifier.py [--iterations 20000] [--repeat 5]

Every contender verifies the same ES256 and EdDSA access tokens; the Python libraries are
given pre-loaded keys and asked for full claim checks. "raw" is the signature check alone
(``public_key.verify`` on pre-decoded bytes): the floor no verifier can go under.
Prints a markdown table of operations per second and the ratio to raw.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from idgate.jose import generate_signing_key, sign_jwt
from idgate.jose.pubkeys import b64url_decode
from idgate.jose.reference import reference_decoder
from idgate.jose.jwe import encrypt_nested
from joserfc.jwk import ECKey
from idgate.jose.dpop_key import DpopKey
from idgate.rs import ProofChecker, Verifier, authenticate

ISSUER, AUDIENCE = "https://localhost:8443", "https://api.example"


def best_per_second(fns: dict[str, Callable[[], Any]], iterations: int, repeat: int) -> dict[str, float]:
    """Best-of-``repeat`` ops/s for each contender; rounds interleave the contenders so a
    change in machine load hits all of them alike."""
    for fn in fns.values():
        fn()  # warm caches (JWKS load, key objects) outside the timing
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(iterations):
                fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: iterations / seconds for name, seconds in best.items()}


def dpop_contenders(alg: str, proofs_needed: int) -> dict[str, Callable[[], Any]]:
    """A whole request through :func:`idgate.rs.authenticate`: a bearer token, and the same token
    DPoP-bound with a fresh ES256 proof per request (signed beforehand, outside the timing), so
    every check runs: the proof's signature, its claims, ath, the key match and the replay cache."""
    key, client = generate_signing_key(alg), DpopKey.generate("ES256")
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "3f1c2a9e-user", "client_id": "web-app", "jti": "jti-0001",
              "iat": now, "exp": now + 3600, "scope": "things:read"}
    plain = sign_jwt(claims, key, "at+jwt")
    bound = sign_jwt({**claims, "cnf": {"jkt": client.jkt}}, key, "at+jwt")
    url = AUDIENCE + "/things"
    verifier = Verifier(ISSUER, AUDIENCE, jwks={"keys": [key.public_jwk]}, public_url=AUDIENCE,
                        dpop=ProofChecker(max_age=3600))  # the proofs are signed up to a minute before use
    bearer_headers = [(b"authorization", f"Bearer {plain}".encode())]
    proofs = iter([[(b"authorization", f"DPoP {bound}".encode()),
                    (b"dpop", client.proof("GET", url, access_token=bound, iat=now).encode())]
                   for _ in range(proofs_needed)])
    return {
        "idgate authenticate, Bearer": lambda: authenticate(verifier, bearer_headers, method="GET", url=url),
        "idgate authenticate, DPoP + fresh proof": lambda: authenticate(verifier, next(proofs), method="GET", url=url),
    }


def contenders(alg: str) -> dict[str, Callable[[], Any]]:
    key = generate_signing_key(alg)
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "3f1c2a9e-user",
        "client_id": "web-app",
        "jti": "jti-0001",
        "iat": now,
        "exp": now + 3600,
        "scope": "things:read",
    }
    token = sign_jwt(claims, key, "at+jwt")
    public = serialization.load_pem_private_key(key.private_pem(), None).public_key()

    verifier = Verifier(ISSUER, AUDIENCE, jwks={"keys": [key.public_jwk]})
    required = ["iss", "aud", "exp", "iat", "sub", "jti", "client_id"]
    pyjwt_options = {"require": required}
    joserfc_decode = reference_decoder(key.public_jwk, issuer=ISSUER, audience=AUDIENCE, algorithms=[alg])

    signing_input, _, sig_b64 = token.rpartition(".")
    message, signature = signing_input.encode(), b64url_decode(sig_b64)
    if alg == "ES256":
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        ecdsa = ec.ECDSA(hashes.SHA256())

        def raw() -> None:
            public.verify(der, message, ecdsa)  # type: ignore[call-arg, union-attr]
    else:

        def raw() -> None:
            public.verify(signature, message)  # type: ignore[call-arg, union-attr]

    # The same token as a nested JWE (ECDH-ES+A256KW + A256GCM) for a service with a decryption key.
    enc_key = ECKey.generate_key("P-256")
    nested = encrypt_nested(token, enc_key)
    jwe_verifier = Verifier(ISSUER, AUDIENCE, jwks={"keys": [key.public_jwk]},
                            decryption_key=enc_key.as_dict(private=True))
    return {
        "idgate Verifier.verify": lambda: verifier.verify(token),
        "idgate Verifier.verify (nested JWE)": lambda: jwe_verifier.verify(nested),
        "PyJWT jwt.decode": lambda: pyjwt.decode(
            token, public, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER, options=pyjwt_options  # type: ignore[arg-type]
        ),
        "joserfc jwt.decode + claims": lambda: joserfc_decode(token, int(time.time())),
        "raw cryptography verify": raw,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="idgate verifier benchmark")
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    print(f"{args.iterations} iterations, best of {args.repeat}\n")
    print("| alg | verifier | ops/s | µs/op | time vs raw |")
    print("|---|---|---:|---:|---:|")
    for alg in ("ES256", "EdDSA"):
        results = best_per_second(contenders(alg), args.iterations, args.repeat)
        raw = results["raw cryptography verify"]
        for name, ops in results.items():
            print(f"| {alg} | {name} | {ops:,.0f} | {1e6 / ops:.1f} | {raw / ops:.2f}x |")
        dpop = best_per_second(dpop_contenders(alg, args.iterations * args.repeat + 1), args.iterations, args.repeat)
        for name, ops in dpop.items():
            print(f"| {alg} | {name} | {ops:,.0f} | {1e6 / ops:.1f} | {raw / ops:.2f}x |")
        ratio = dpop["idgate authenticate, DPoP + fresh proof"] / dpop["idgate authenticate, Bearer"]
        print(f"| {alg} | DPoP request / Bearer request | | | {ratio:.2f} of bearer throughput |")


if __name__ == "__main__":
    main()
