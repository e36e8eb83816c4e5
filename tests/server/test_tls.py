"""TLS: development certificates and the hardened uvicorn server, probed over real sockets.

Three real uvicorn HTTPS servers run in-process on background threads (127.0.0.1, OS-chosen
ports):

* ``hardened``: exactly what production runs (``build_server`` with cert/key files).
* ``weak``: plain ``uvicorn.Config`` whose context deliberately allows TLS 1.0+ and every cipher,
  with both an ECDSA and an RSA certificate. It is the control: each refusal test first shows
  the same client probe *succeeds* here, so a refusal by the hardened server is not the local
  OpenSSL being unable to offer the protocol or suite.
* ``hardened_weak``: the same deliberately weak context and certificates, but through
  ``HardenedConfig``. The only difference from ``weak`` is the hardening hook; remove the hook
  (or one of its rules) and the refusal tests against it fail.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import stat
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from idgate.server.certs import LEAF_DAYS, DevCerts, TLSSetupError, certificate_days_left, ensure_dev_certificates
from idgate.server.tls import INTERMEDIATE_TLS12_CIPHERS, HardenedConfig, build_server, harden_server_context, \
    server_ssl_context

# How a refusal looks from each side.
# Client: asyncio (hence uvicorn) closes the connection on a failed handshake without flushing the
# alert OpenSSL wrote, so the client sees EOF (or a reset) right after its ClientHello went out, or
# the alert itself. A client that could not even build its hello fails with a local reason instead
# (NO_PROTOCOLS_AVAILABLE, NO_CIPHERS_AVAILABLE...), which does not count.
CLIENT_SEES = {
    "UNEXPECTED_EOF_WHILE_READING",
    "TLSV1_ALERT_PROTOCOL_VERSION",
    "SSLV3_ALERT_HANDSHAKE_FAILURE",
    "TLSV1_ALERT_INSUFFICIENT_SECURITY",
}
# Server: the alert it generated, recorded with the ssl message callback (debug hook).
PROTOCOL_REFUSED = {"PROTOCOL_VERSION"}
CIPHER_REFUSED = {"HANDSHAKE_FAILURE", "INSUFFICIENT_SECURITY"}
_ALERT = 21  # TLS record content type "alert"
HAS_MSG_CALLBACK = hasattr(ssl.SSLContext, "_msg_callback")


# ------------------------------------------------------------------------------------------
# Fixtures: certificates and servers
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Material:
    certs: DevCerts
    ca_key: Path
    rsa_cert: Path
    rsa_key: Path


def _issue_rsa_leaf(certs: DevCerts, ca_key_path: Path, out: Path) -> tuple[Path, Path]:
    """An RSA server certificate from the same dev CA, so RSA suites can be negotiated at all."""
    ca_cert = x509.load_pem_x509_certificate(certs.ca.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = ca_cert.not_valid_before_utc + timedelta(minutes=10)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = out / "rsa-cert.pem", out / "rsa-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> Material:
    base = tmp_path_factory.mktemp("tls-material")
    certs = ensure_dev_certificates(base / "tls")
    rsa_cert, rsa_key = _issue_rsa_leaf(certs, base / "tls" / "ca-key.pem", base)
    return Material(certs, base / "tls" / "ca-key.pem", rsa_cert, rsa_key)


async def hello_app(scope: dict, receive: Callable, send: Callable) -> None:
    assert scope["type"] == "http"
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"5")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"hello"})


@dataclass
class Running:
    port: int
    alerts: list[str] = field(default_factory=list)  # alerts the server wrote, by name

    def record_alerts(self, ctx: ssl.SSLContext) -> ssl.SSLContext:
        if HAS_MSG_CALLBACK:

            def callback(conn: object, direction: str, version: object, content_type: object,
                         msg_type: object, data: bytes) -> None:
                if direction == "write" and content_type == _ALERT:
                    self.alerts.append(getattr(msg_type, "name", str(msg_type)))

            ctx._msg_callback = callback
        return ctx


def _weak_context(m: Material) -> ssl.SSLContext:
    """Everything OpenSSL can still do: TLS 1.0+, CBC, static RSA, SHA-1 MACs."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "ssl.TLSVersion.TLSv1 is deprecated"
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.load_cert_chain(m.certs.cert, m.certs.key)
    ctx.load_cert_chain(m.rsa_cert, m.rsa_key)
    return ctx


@contextmanager
def running(server: uvicorn.Server, probe: Running) -> Iterator[Running]:
    """Run ``server`` on a background thread over a socket bound to 127.0.0.1:0 (port in ``probe``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    probe.port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "uvicorn failed to start"
            assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
            time.sleep(0.01)
        yield probe
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    assert not thread.is_alive(), "uvicorn did not stop"


_QUIET = {"log_config": None, "log_level": "warning", "lifespan": "off", "access_log": False}


@pytest.fixture(scope="module")
def hardened(material: Material) -> Iterator[Running]:
    probe = Running(0)
    server = build_server(hello_app, "127.0.0.1", 0, material.certs.cert, material.certs.key, **_QUIET)
    server.config.load()  # what Server.serve would do first; gives access to the final context
    assert server.config.ssl is not None
    probe.record_alerts(server.config.ssl)
    with running(server, probe) as probe:
        yield probe


@pytest.fixture(scope="module")
def weak(material: Material) -> Iterator[Running]:
    probe = Running(0)
    config = uvicorn.Config(
        hello_app,
        http="h11",
        ssl_context_factory=lambda _cfg, _default: probe.record_alerts(_weak_context(material)),
        **_QUIET,
    )
    with running(uvicorn.Server(config), probe) as probe:
        yield probe


@pytest.fixture(scope="module")
def hardened_weak(material: Material) -> Iterator[Running]:
    probe = Running(0)
    config = HardenedConfig(
        hello_app,
        http="h11",
        ssl_context_factory=lambda _cfg, _default: probe.record_alerts(_weak_context(material)),
        **_QUIET,
    )
    with running(uvicorn.Server(config), probe) as probe:
        yield probe


# ------------------------------------------------------------------------------------------
# Client probes
# ------------------------------------------------------------------------------------------


def client(
    m: Material, *, version: ssl.TLSVersion | None = None, ciphers: str | None = None
) -> ssl.SSLContext:
    """A verifying client (CA = ca.pem, hostname checked), optionally pinned to one version/suite."""
    ctx = ssl.create_default_context(cafile=m.certs.ca)
    if version is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = version
            ctx.maximum_version = version
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    return ctx


def handshake(port: int, ctx: ssl.SSLContext, hostname: str = "localhost") -> tuple[str | None, str | None]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=hostname) as tls:
            cipher = tls.cipher()
            return tls.version(), cipher[0] if cipher else None


def get(port: int, ctx: ssl.SSLContext, hostname: str = "localhost") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=hostname) as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            chunks = []
            while chunk := tls.recv(65536):
                chunks.append(chunk)
    return b"".join(chunks)


def control(server: Running, ctx: ssl.SSLContext, what: str) -> tuple[str | None, str | None]:
    """Handshake against the weak control server; skip if this OpenSSL cannot make the probe."""
    try:
        return handshake(server.port, ctx)
    except (ssl.SSLError, ConnectionResetError) as exc:
        pytest.skip(f"local OpenSSL cannot offer {what} even at SECLEVEL=0 ({exc!r}); probe meaningless")


def assert_refused(server: Running, ctx: ssl.SSLContext, server_alerts: set[str], good: ssl.SSLContext) -> None:
    """The handshake fails because the *server* refused it, and the server stays healthy."""
    server.alerts.clear()
    with pytest.raises((ssl.SSLError, ConnectionResetError)) as info:
        handshake(server.port, ctx)
    exc = info.value
    assert isinstance(exc, ConnectionResetError) or exc.reason in CLIENT_SEES, f"not a server refusal: {exc!r}"
    if HAS_MSG_CALLBACK:
        assert set(server.alerts) & server_alerts, f"server alerts {server.alerts}, expected one of {server_alerts}"
    assert handshake(server.port, good)[0] == "TLSv1.3"


# ------------------------------------------------------------------------------------------
# Accepted: TLS 1.3 and TLS 1.2 ECDHE+AEAD, with verification on
# ------------------------------------------------------------------------------------------


def test_tls13_default_client_gets_a_response(hardened: Running, material: Material) -> None:
    response = get(hardened.port, client(material))
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == b"hello"
    headers = head.lower()
    assert b"\r\nserver:" not in headers
    assert b"\r\ndate:" in headers
    assert handshake(hardened.port, client(material))[0] == "TLSv1.3"


@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1", "::1"])
def test_tls12_ecdhe_ecdsa_aes128_gcm_verifies(hardened: Running, material: Material, hostname: str) -> None:
    ctx = client(material, version=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-ECDSA-AES128-GCM-SHA256")
    assert handshake(hardened.port, ctx, hostname) == ("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256")


def test_verification_is_really_on(hardened: Running, material: Material, tmp_path: Path) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(hardened.port, client(material), "example.com")
    other = ensure_dev_certificates(tmp_path / "other")  # a different CA
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(hardened.port, ssl.create_default_context(cafile=other.ca))


def test_hardened_context_still_serves_ecdhe_rsa_gcm(hardened_weak: Running, material: Material) -> None:
    # Positive control for the RSA refusals below: the RSA certificate is usable on this server.
    ctx = client(material, version=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-RSA-AES128-GCM-SHA256")
    assert handshake(hardened_weak.port, ctx) == ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")


# ------------------------------------------------------------------------------------------
# Refused: TLS 1.0/1.1, CBC, static RSA (each with a control against the weak server)
# ------------------------------------------------------------------------------------------

OLD_VERSIONS = [pytest.param(ssl.TLSVersion.TLSv1, id="TLSv1.0"), pytest.param(ssl.TLSVersion.TLSv1_1, id="TLSv1.1")]


@pytest.mark.parametrize("version", OLD_VERSIONS)
def test_old_protocol_refused(
    hardened: Running, hardened_weak: Running, weak: Running, material: Material, version: ssl.TLSVersion
) -> None:
    def probe() -> ssl.SSLContext:
        return client(material, version=version, ciphers="ALL:@SECLEVEL=0")

    expected = {ssl.TLSVersion.TLSv1: "TLSv1", ssl.TLSVersion.TLSv1_1: "TLSv1.1"}[version]
    negotiated, _ = control(weak, probe(), expected)
    assert negotiated == expected  # the probe really speaks the old protocol
    assert_refused(hardened, probe(), PROTOCOL_REFUSED, client(material))
    assert_refused(hardened_weak, probe(), PROTOCOL_REFUSED, client(material))


WEAK_SUITES = [
    "ECDHE-ECDSA-AES128-SHA",  # CBC, SHA-1 MAC
    "ECDHE-ECDSA-AES128-SHA256",  # CBC
    "ECDHE-RSA-AES128-SHA",  # CBC, SHA-1 MAC (RSA certificate)
    "AES128-GCM-SHA256",  # static RSA key exchange: no forward secrecy
    "AES128-SHA",  # static RSA + CBC
]


@pytest.mark.parametrize("suite", WEAK_SUITES)
def test_weak_tls12_suite_refused(
    hardened: Running, hardened_weak: Running, weak: Running, material: Material, suite: str
) -> None:
    def probe() -> ssl.SSLContext:
        return client(material, version=ssl.TLSVersion.TLSv1_2, ciphers=f"{suite}:@SECLEVEL=0")

    assert control(weak, probe(), suite) == ("TLSv1.2", suite)
    assert_refused(hardened_weak, probe(), CIPHER_REFUSED, client(material))
    if "ECDSA" in suite:  # the production server only has the ECDSA certificate
        assert_refused(hardened, probe(), CIPHER_REFUSED, client(material))


# ------------------------------------------------------------------------------------------
# Context and configuration, without sockets
# ------------------------------------------------------------------------------------------


def _assert_profile(ctx: ssl.SSLContext) -> None:
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    for flag in (ssl.OP_NO_COMPRESSION, ssl.OP_CIPHER_SERVER_PREFERENCE, ssl.OP_NO_RENEGOTIATION, ssl.OP_NO_TICKET):
        assert ctx.options & flag
    tls12 = [c["name"] for c in ctx.get_ciphers() if c["protocol"] != "TLSv1.3"]
    assert tls12 == list(INTERMEDIATE_TLS12_CIPHERS)


def test_server_ssl_context_profile(material: Material) -> None:
    _assert_profile(server_ssl_context(material.certs.cert, material.certs.key))


def test_hardened_config_overrides_weak_uvicorn_options(material: Material) -> None:
    config = HardenedConfig(
        hello_app,
        ssl_certfile=material.certs.cert,
        ssl_keyfile=material.certs.key,
        ssl_ciphers="ALL:@SECLEVEL=0",
        **_QUIET,
    )
    config.load()
    assert config.ssl is not None
    _assert_profile(config.ssl)


def test_harden_rejects_client_context() -> None:
    with pytest.raises(ValueError):
        harden_server_context(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))


def test_build_server_defaults(material: Material) -> None:
    config = build_server(hello_app, "127.0.0.1", 8443, material.certs.cert, material.certs.key).config
    assert isinstance(config, HardenedConfig)
    assert config.server_header is False
    assert config.date_header is True
    assert config.proxy_headers is False
    assert config.timeout_keep_alive == 5
    assert config.limit_concurrency is not None and config.limit_concurrency > 0
    assert config.http == "idgate.server.http_protocol:BoundedHttpToolsProtocol"
    assert config.loop == "uvloop" and config.ws == "none"
    assert build_server(hello_app, "127.0.0.1", 1, material.certs.cert, material.certs.key,
                        limit_concurrency=7).config.limit_concurrency == 7
    with pytest.raises(TypeError):
        build_server(hello_app, "127.0.0.1", 1, material.certs.cert, material.certs.key, ssl_keyfile="x")


# ------------------------------------------------------------------------------------------
# Development certificates
# ------------------------------------------------------------------------------------------


def test_leaf_certificate_properties(material: Material) -> None:
    cert = x509.load_pem_x509_certificate(material.certs.cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    assert cert.not_valid_after_utc - cert.not_valid_before_utc <= timedelta(days=LEAF_DAYS)
    assert cert.signature_hash_algorithm is not None and cert.signature_hash_algorithm.name == "sha256"
    assert ExtendedKeyUsageOID.SERVER_AUTH in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    assert 0 < certificate_days_left(material.certs.cert) <= LEAF_DAYS

    ca = x509.load_pem_x509_certificate(material.certs.ca.read_bytes())
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    ca_usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ca_usage.key_cert_sign and ca_usage.crl_sign and not ca_usage.digital_signature
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)


def test_private_keys_are_0600(material: Material) -> None:
    for path in (material.certs.key, material.ca_key):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(material.certs.ca.parent).st_mode) == 0o700


def test_ensure_is_idempotent(tmp_path: Path) -> None:
    first = ensure_dev_certificates(tmp_path / "tls")
    files = sorted((tmp_path / "tls").iterdir())
    before = {p.name: p.read_bytes() for p in files}
    assert len(before) == 4
    assert ensure_dev_certificates(tmp_path / "tls") == first
    assert {p.name: p.read_bytes() for p in sorted((tmp_path / "tls").iterdir())} == before


def test_missing_leaf_is_reissued_from_existing_ca(tmp_path: Path) -> None:
    certs = ensure_dev_certificates(tmp_path)
    ca_before = certs.ca.read_bytes()
    old_leaf = certs.cert.read_bytes()
    certs.cert.unlink()
    certs.key.unlink()
    ensure_dev_certificates(tmp_path)
    assert certs.ca.read_bytes() == ca_before
    assert certs.cert.read_bytes() != old_leaf
    x509.load_pem_x509_certificate(certs.cert.read_bytes()).verify_directly_issued_by(
        x509.load_pem_x509_certificate(ca_before)
    )


def test_partial_or_unsafe_folder_is_refused_not_overwritten(tmp_path: Path) -> None:
    certs = ensure_dev_certificates(tmp_path)
    certs.key.unlink()
    cert_bytes = certs.cert.read_bytes()
    with pytest.raises(TLSSetupError):
        ensure_dev_certificates(tmp_path)
    assert certs.cert.read_bytes() == cert_bytes

    fresh = ensure_dev_certificates(tmp_path / "b")
    fresh.key.chmod(0o644)
    with pytest.raises(TLSSetupError, match="chmod 600"):
        ensure_dev_certificates(tmp_path / "b")


def test_certificate_days_left_counts_down(material: Material) -> None:
    cert = x509.load_pem_x509_certificate(material.certs.cert.read_bytes())
    expiry = cert.not_valid_after_utc
    assert certificate_days_left(material.certs.cert, now=expiry - timedelta(days=10, hours=1)) == 10
    assert certificate_days_left(material.certs.cert, now=expiry + timedelta(hours=1)) == -1


# ------------------------------------------------------------------------------------------
# The request head bound (httptools has no setting of its own: idgate.server.http_protocol)
# ------------------------------------------------------------------------------------------


def _exchange(m: Material, port: int, chunks: list[bytes], pause: float = 0.0) -> bytes:
    """Send ``chunks`` over TLS (optionally pausing between them) and read until the server
    closes the connection or 2 s of silence."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    with client(m).wrap_socket(raw, server_hostname="localhost") as tls:
        try:
            for chunk in chunks:
                tls.sendall(chunk)
                time.sleep(pause)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the server may close before everything was sent
        tls.settimeout(2)
        out = b""
        try:
            while data := tls.recv(65536):
                out += data
        except (TimeoutError, socket.timeout, ConnectionResetError, ssl.SSLError):
            pass
        return out


def _get(extra_headers: bytes = b"", close: bool = True) -> bytes:
    return (b"GET / HTTP/1.1\r\nHost: localhost\r\n" + extra_headers
            + (b"Connection: close\r\n" if close else b"") + b"\r\n")


def test_request_head_over_16_kib_is_refused_with_431(hardened: Running, material: Material) -> None:
    big = b"X-Filler: " + b"a" * 17_000 + b"\r\n"
    reply = _exchange(material, hardened.port, [_get(big)])
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:80]


def test_head_sent_in_small_pieces_is_counted_as_a_whole(hardened: Running, material: Material) -> None:
    """A header value dribbled in 1 KiB pieces must not escape the bound (httptools buffers a
    value until it is complete, so the bound has to count raw bytes, not parsed headers)."""
    head = _get(b"X-Filler: " + b"b" * 40_000 + b"\r\n")
    reply = _exchange(material, hardened.port, [head[i:i + 1024] for i in range(0, len(head), 1024)], pause=0.001)
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:80]


def test_heads_under_the_bound_bodies_and_pipelining_are_served(hardened: Running, material: Material) -> None:
    near_limit = b"".join(b"X-H%d: " % i + b"c" * 1000 + b"\r\n" for i in range(14))  # ~14.1 KiB of headers
    assert _exchange(material, hardened.port, [_get(near_limit)]).startswith(b"HTTP/1.1 200 ")
    body = b"d" * 200_000  # a large body in the same write as its head is not part of the head
    post = b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 200000\r\nConnection: close\r\n\r\n" + body
    assert _exchange(material, hardened.port, [post]).startswith(b"HTTP/1.1 200 ")
    # many small keep-alive requests in one write: far more than 16 KiB, every head small
    pipelined = _get(close=False) * 400 + _get()
    assert _exchange(material, hardened.port, [pipelined]).count(b"HTTP/1.1 200 ") == 401


def test_corked_transport_sends_one_write_per_loop_turn() -> None:
    import asyncio

    from idgate.server.http_protocol import _CorkedTransport

    class Recorder:
        def __init__(self) -> None:
            self.writes: list[bytes] = []
            self.closed = False

        def write(self, data: bytes) -> None:
            self.writes.append(data)

        def is_closing(self) -> bool:
            return self.closed

        def close(self) -> None:
            self.closed = True

        def get_extra_info(self, name: str) -> str:
            return f"info:{name}"

    async def main() -> None:
        raw = Recorder()
        corked = _CorkedTransport(raw, asyncio.get_running_loop())
        corked.write(b"HTTP/1.1 200 OK\r\n\r\n")
        corked.write(memoryview(b"body"))
        assert raw.writes == []  # nothing leaves before the turn ends
        await asyncio.sleep(0)
        assert raw.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
        corked.write(b"last words")
        corked.close()  # close flushes first
        assert raw.writes[-1] == b"last words" and raw.closed
        assert corked.get_extra_info("peername") == "info:peername"

    asyncio.run(main())
