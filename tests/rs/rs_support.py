"""Shared helpers for the idgate.rs tests: keys, a fixed clock, token builders, an HTTPS issuer."""

from __future__ import annotations

import base64
import datetime
import functools
import http.server
import ipaddress
import json
import ssl
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from idgate.jose import SigningKey, generate_signing_key, sign_jwt
from idgate.rs import Verifier

ISSUER = "https://localhost:8443"
AUDIENCE = "https://api.example"
NOW = 1_750_000_000


class FixedClock:
    """A clock the test moves by hand; the Verifier reads it for claims and cache timing."""

    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += seconds


@functools.cache
def signing_key(alg: str, n: int = 0) -> SigningKey:
    """One cached key per (alg, n): RSA generation is slow."""
    return generate_signing_key(alg)


def jwks_of(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [k.public_jwk for k in keys]}


def claims(now: int = NOW, **overrides: Any) -> dict[str, Any]:
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "3f1c2a9e-user",
        "client_id": "web-app",
        "jti": "jti-0001",
        "iat": now,
        "exp": now + 900,
        "scope": "things:read things:write",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not DROP}


DROP = object()


def token(key: SigningKey | None = None, now: int = NOW, typ: str = "at+jwt", **overrides: Any) -> str:
    return sign_jwt(claims(now, **overrides), key or signing_key("ES256"), typ)


def verifier(*keys: SigningKey, clock: FixedClock | None = None, **options: Any) -> Verifier:
    keys = keys or (signing_key("ES256"),)
    return Verifier(issuer=ISSUER, audience=AUDIENCE, jwks=jwks_of(*keys), clock=clock or FixedClock(), **options)


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def private_key(key: SigningKey) -> Any:
    return serialization.load_pem_private_key(key.private_pem(), password=None)


def raw_sign(key: SigningKey, signing_input: bytes) -> bytes:
    """Sign as the JWS alg of ``key`` would (RFC 7518 §3), with cryptography directly."""
    priv = private_key(key)
    if key.alg in ("ES256", "ES384"):
        hash_alg, size = (hashes.SHA256(), 32) if key.alg == "ES256" else (hashes.SHA384(), 48)
        r, s = decode_dss_signature(priv.sign(signing_input, ec.ECDSA(hash_alg)))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if key.alg == "EdDSA":
        assert isinstance(priv, ed25519.Ed25519PrivateKey)
        return priv.sign(signing_input)
    assert isinstance(priv, rsa.RSAPrivateKey)
    if key.alg == "PS256":
        return priv.sign(signing_input, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    return priv.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())


def forge(
    header: dict[str, Any] | str,
    payload: dict[str, Any] | str | bytes,
    key: SigningKey | None = None,
    signature: bytes | None = None,
) -> str:
    """A compact JWS with exactly this header and payload text, signed by ``key``.

    Strings are used verbatim, so tests can write duplicate members and odd spacing.
    """
    key = key or signing_key("ES256")
    h = header if isinstance(header, str) else json.dumps(header)
    p = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
    signing_input = f"{b64(h)}.{b64(p)}"
    sig = raw_sign(key, signing_input.encode()) if signature is None else signature
    return f"{signing_input}.{b64(sig)}"


def header_for(key: SigningKey | None = None, **extra: Any) -> dict[str, Any]:
    key = key or signing_key("ES256")
    return {"alg": key.alg, "kid": key.kid, "typ": "at+jwt", **extra}


# --- a real HTTPS issuer on 127.0.0.1 ------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a localhost/127.0.0.1 server certificate it signed."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("idgate test CA"))
        .issuer_name(_name("idgate test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_path, cert_path, key_path


class JwksServer:
    """A tiny threaded HTTPS issuer serving discovery and a JWK Set; it counts requests.

    Tests change ``jwks``, ``cache_control``, ``discovery_issuer`` or ``status`` between
    requests to play key rotation, outages and misconfigured issuers.
    """

    def __init__(self, tmp: Path) -> None:
        self.ca, cert, key = make_tls_files(tmp)
        self.hits: Counter[str] = Counter()
        self.jwks: Any = {"keys": []}
        self.cache_control = "public, max-age=300"
        self.status = 200
        self.discovery_issuer: str | None = None
        self.raw_jwks_body: bytes | None = None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.issuer = f"https://localhost:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.hits[self.path] += 1
                if self.path == "/.well-known/openid-configuration":
                    body = json.dumps(
                        {"issuer": server.discovery_issuer or server.issuer, "jwks_uri": server.issuer + "/jwks"}
                    ).encode()
                    self._reply(200, body, "max-age=300")
                elif self.path == "/jwks":
                    body = server.raw_jwks_body or json.dumps(server.jwks).encode()
                    self._reply(server.status, body, server.cache_control)
                elif self.path == "/redirect-jwks":
                    self.send_response(302)
                    self.send_header("Location", server.issuer + "/jwks")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self._reply(404, b"{}", "no-store")

            def _reply(self, status: int, body: bytes, cache_control: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", cache_control)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
