"""A deliberately misconfigured OAuth provider for the auditor's tests.

Every flaw is on purpose and listed in FLAWS; everything else is done right, so the test can
assert that exactly these checks FAIL. It runs on 127.0.0.1 over real TLS (TLS 1.0 and CBC
suites allowed) and, optionally, over plain HTTP, with uvicorn in a thread.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jwt as pyjwt
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

# check id -> the flaw that makes it fail
FLAWS = {
    "tls.min-version": "TLS 1.0 and 1.1 accepted",
    "tls.cipher-suites": "CBC suites accepted on TLS 1.2",
    "transport.plain-http": "plain HTTP serves pages and processes credentials",
    "credentials.no-get": "GET /token processes credentials",
    "credentials.query-string": "credentials read from the query string",
    "credentials.no-store": "no Cache-Control: no-store",
    "jwks.no-private": "the JWKS carries the private exponent d",
    "token.lifetime": "year-long access tokens",
    "probe.alg-none": "alg none tokens accepted",
    "browser.cookies": "session cookie without Secure/HttpOnly/SameSite",
    "browser.csp": "no Content-Security-Policy on the login page",
}
CLIENT_ID, CLIENT_SECRET = "app", "app-secret-for-tests-1234"
YEAR = 365 * 86_400


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Pki:
    ca: Path
    cert: Path
    key: Path


def make_pki(folder: Path) -> Pki:
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "audit test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
          .not_valid_after(now + timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    pki = Pki(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return pki


def weak_server_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1  # flaw: TLS 1.0 and 1.1
    context.set_ciphers("ECDHE+AES:@SECLEVEL=0")  # flaw: CBC suites (but still forward secrecy)
    context.load_cert_chain(pki.cert, pki.key)
    return context


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Provider:
    """The misconfigured provider's state: issuer, RSA signing key, app."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.pem = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())

    def mint(self, *, lifetime: int = YEAR, audience: str | None = None, issued: float | None = None) -> str:
        now = int(time.time() if issued is None else issued)
        claims = {"iss": self.issuer, "sub": "user-1", "aud": audience or self.issuer, "iat": now,
                  "exp": now + lifetime, "jti": f"j{now}", "email": "bob@example.com", "scope": "things:read"}
        return pyjwt.encode(claims, self.pem, algorithm="RS256", headers={"kid": "k1", "typ": "at+jwt"})

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.private_numbers()
        public = numbers.public_numbers
        return {"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig", "n": _b64(public.n),
                          "e": _b64(public.e), "d": _b64(numbers.d)}]}  # flaw: private member d

    def accepts(self, token: str) -> bool:
        try:
            header = pyjwt.get_unverified_header(token)
            if str(header.get("alg", "")).lower() == "none":  # flaw: unsigned tokens accepted
                claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
                return bool(claims.get("exp", 0) > time.time() and claims.get("aud") == self.issuer)
            pyjwt.decode(token, self.key.public_key(), algorithms=["RS256"], audience=self.issuer,
                         issuer=self.issuer)
        except (pyjwt.PyJWTError, ValueError):
            return False
        return True

    def app(self) -> Starlette:
        base = self.issuer

        async def discovery(request: Request) -> Response:
            return JSONResponse({
                "issuer": base, "authorization_endpoint": f"{base}/authorize", "token_endpoint": f"{base}/token",
                "userinfo_endpoint": f"{base}/userinfo", "jwks_uri": f"{base}/jwks.json",
                "grant_types_supported": ["client_credentials", "password"],
                "id_token_signing_alg_values_supported": ["RS256"]})

        async def jwks(request: Request) -> Response:
            return JSONResponse(self.jwks())

        async def token(request: Request) -> Response:  # flaws: GET, query string, no no-store
            params = dict(request.query_params)
            if request.method == "POST":
                params.update(parse_qsl((await request.body()).decode()))
            client = (params.get("client_id"), params.get("client_secret"))
            auth = request.headers.get("authorization", "")
            if auth.lower().startswith("basic "):
                user, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                client = (user, secret)
            if params.get("grant_type") == "client_credentials":
                if client != (CLIENT_ID, CLIENT_SECRET):
                    return JSONResponse({"error": "invalid_client"}, status_code=401)
                return JSONResponse({"access_token": self.mint(), "token_type": "Bearer", "expires_in": YEAR})
            if params.get("grant_type") == "password":
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

        async def userinfo(request: Request) -> Response:
            auth = request.headers.get("authorization", "")
            if auth.startswith("Bearer ") and self.accepts(auth[7:]):
                return JSONResponse({"sub": "user-1"}, headers={"Cache-Control": "no-store"})
            return JSONResponse({"error": "invalid_token"}, status_code=401,
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

        async def authorize(request: Request) -> Response:
            page = ('<!doctype html><html><body><form method="post" action="/authorize">'
                    '<input type="hidden" name="csrf_token" value="b0a2f1c9">'
                    '<input name="username"><input type="password" name="password"><button>Log in</button>'
                    '</form></body></html>')
            response = HTMLResponse(page, headers={"X-Frame-Options": "DENY"})  # flaw: no CSP
            response.set_cookie("sid", "abc123", secure=False, httponly=False, samesite=None)  # type: ignore[arg-type]
            return response

        async def home(request: Request) -> Response:
            return PlainTextResponse("welcome")

        app = Starlette(routes=[
            Route("/", home), Route("/.well-known/openid-configuration", discovery), Route("/jwks.json", jwks),
            Route("/token", token, methods=["GET", "POST"]), Route("/userinfo", userinfo),
            Route("/authorize", authorize)])

        async def with_hsts(scope: Any, receive: Any, send: Any) -> None:
            async def add_header(message: Any) -> None:
                if message["type"] == "http.response.start" and scope.get("scheme") == "https":
                    message["headers"] = [*message.get("headers", []),
                                          (b"strict-transport-security", b"max-age=63072000; includeSubDomains")]
                await send(message)

            await app(scope, receive, add_header)

        return with_hsts  # type: ignore[return-value]


@contextmanager
def serve(app: Any, port: int, context: ssl.SSLContext | None) -> Iterator[None]:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", lifespan="off",
                            http="h11", ws="none")
    config.load()
    config.ssl = context
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass
class Misconfigured:
    url: str
    http_url: str
    pki: Pki
    provider: Provider


@contextmanager
def misconfigured(folder: Path) -> Iterator[Misconfigured]:
    pki = make_pki(folder)
    tls_port, http_port = free_port(), free_port()
    provider = Provider(f"https://localhost:{tls_port}")
    app = provider.app()
    with serve(app, tls_port, weak_server_context(pki)), serve(app, http_port, None):
        yield Misconfigured(provider.issuer, f"http://localhost:{http_port}", pki, provider)
