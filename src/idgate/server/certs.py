"""Development certificates for idgate: a local CA and a ``localhost`` server certificate.

:func:`ensure_dev_certificates` creates a local development CA and a ``localhost`` server
certificate signed by it, only where files are missing (it never overwrites anything). Clients
trust ``ca.pem`` (``--ca`` on the command line, ``httpx.Client(verify=...)``). The server's TLS
settings are in :mod:`idgate.server.tls`. Only ``cryptography`` is used (RFC 5280 profiles).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import stat
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from idgate.clock import utcnow
from idgate.errors import ConfigError

__all__ = [
    "CA_DAYS",
    "LEAF_DAYS",
    "DevCerts",
    "TLSSetupError",
    "certificate_days_left",
    "ensure_dev_certificates",
]

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"

# CA/Browser Forum Baseline Requirements §6.3.2: a server certificate is valid for at most
# 398 days; 397 leaves a day of margin for the backdating below and for clock rounding.
LEAF_DAYS = 397
# The development CA only signs leaves; ten years spares re-trusting it every year.
CA_DAYS = 3650
# Issue certificates a few minutes "in the past" so a client whose clock is slightly behind
# does not reject a certificate that was created a second ago. Counted inside the validity
# period, so the leaf never exceeds LEAF_DAYS in total.
_BACKDATE = timedelta(minutes=5)

_LEAF_DNS = ("localhost",)
_LEAF_IPS = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
# Name constraints on the CA (RFC 5280 §4.2.1.10): even if a developer adds ca.pem to a
# system trust store and ca-key.pem later leaks, the CA can only vouch for loopback names,
# never for a real site.
_CA_PERMITTED: tuple[x509.GeneralName, ...] = (
    x509.DNSName("localhost"),
    x509.IPAddress(ipaddress.ip_network("127.0.0.0/8")),
    x509.IPAddress(ipaddress.ip_network("::1/128")),
)

_PRIVATE_MODE = 0o600
_PUBLIC_MODE = 0o644


class TLSSetupError(ConfigError):
    """The TLS folder is in a state that cannot be completed without overwriting files."""

    error = "tls_setup_error"


@dataclass(frozen=True)
class DevCerts:
    """Paths of the development TLS files.

    ``ca`` is what clients trust (``--ca``, ``httpx`` ``verify=``); ``cert``/``key`` are what
    the server loads (uvicorn ``ssl_certfile``/``ssl_keyfile``).
    """

    ca: Path
    cert: Path
    key: Path


def ensure_dev_certificates(tls_dir: Path, *, now: datetime | None = None) -> DevCerts:
    """Create the development CA and server certificate in ``tls_dir`` where missing.

    Idempotent and never destructive: existing files are left byte-for-byte as they are.

    * ``ca.pem`` / ``ca-key.pem``: a local CA, EC P-256, ~10 years, ``CA:TRUE, pathlen:0``,
      ``keyCertSign, cRLSign``, name-constrained to loopback names.
    * ``cert.pem`` / ``key.pem``: the server certificate for ``localhost``, ``127.0.0.1`` and
      ``::1``, EC P-256, ECDSA-SHA-256, ``serverAuth``, ``digitalSignature``, 397 days,
      random 159-bit serial.

    Both private keys are written **unencrypted** with mode 0600 in a 0700 folder. ``key.pem``
    has to be: uvicorn loads it at start-up without a prompt, and a passphrase stored next to
    it (config file, environment) would protect nothing. The file permissions are the
    protection: only the account that runs idgate can read the keys. ``ca-key.pem`` is kept so
    that an expired ``cert.pem`` can be re-issued (delete ``cert.pem`` and ``key.pem``, run
    again) without making clients trust a new CA.

    Raises :class:`TLSSetupError` when the folder holds a partial set that cannot be completed
    without overwriting (e.g. ``cert.pem`` without ``key.pem``, or a leaf without its CA) or
    when an existing private key is readable by other users.
    """
    now = now or utcnow()
    tls_dir = Path(tls_dir)
    tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca_path, ca_key_path = tls_dir / CA_FILE, tls_dir / CA_KEY_FILE
    cert_path, key_path = tls_dir / CERT_FILE, tls_dir / KEY_FILE
    result = DevCerts(ca=ca_path, cert=cert_path, key=key_path)

    for private in (ca_key_path, key_path):
        if private.exists():
            _check_private_mode(private)

    have_ca, have_ca_key = ca_path.exists(), ca_key_path.exists()
    have_cert, have_key = cert_path.exists(), key_path.exists()

    if have_cert != have_key:
        present, missing = (cert_path, key_path) if have_cert else (key_path, cert_path)
        raise TLSSetupError(
            f"TLS folder {tls_dir}: {present.name} exists but {missing.name} is missing. "
            f"Restore {missing.name}, or delete {present.name} to issue a new server certificate."
        )
    if have_cert and have_key:
        if not have_ca:
            raise TLSSetupError(
                f"TLS folder {tls_dir}: {cert_path.name} exists but {ca_path.name} (the CA clients "
                f"must trust) is missing. Restore it, or delete the folder to start over."
            )
        return result

    # The server certificate is missing: it needs a CA (existing or new).
    if have_ca != have_ca_key:
        present, missing = (ca_path, ca_key_path) if have_ca else (ca_key_path, ca_path)
        raise TLSSetupError(
            f"TLS folder {tls_dir}: {present.name} exists but {missing.name} is missing, so no "
            f"server certificate can be issued. Restore {missing.name}, or delete the folder to start over."
        )
    if have_ca:
        ca_cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
        loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey) or loaded.public_key() != ca_cert.public_key():
            raise TLSSetupError(f"TLS folder {tls_dir}: {ca_key_path.name} is not the key of {ca_path.name}.")
        ca_key = loaded
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _make_ca(ca_key, now)

    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_cert = _make_leaf(leaf_key, ca_cert, ca_key, now)

    if not have_ca:
        _write_new(ca_key_path, _private_pem(ca_key), _PRIVATE_MODE)
        _write_new(ca_path, ca_cert.public_bytes(serialization.Encoding.PEM), _PUBLIC_MODE)
    _write_new(key_path, _private_pem(leaf_key), _PRIVATE_MODE)
    _write_new(cert_path, leaf_cert.public_bytes(serialization.Encoding.PEM), _PUBLIC_MODE)
    return result


def certificate_days_left(cert_path: Path, *, now: datetime | None = None) -> int:
    """Whole days until the (first) certificate in ``cert_path`` expires; negative once expired."""
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    return (cert.not_valid_after_utc - (now or utcnow())).days


def _make_ca(key: ec.EllipticCurvePrivateKey, now: datetime) -> x509.Certificate:
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "idgate (development only)"),
        x509.NameAttribute(NameOID.COMMON_NAME, "idgate development CA"),
    ])
    not_before = now - _BACKDATE
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.NameConstraints(permitted_subtrees=list(_CA_PERMITTED), excluded_subtrees=None),
                       critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _make_leaf(
    key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: datetime,
) -> x509.Certificate:
    not_before = now - _BACKDATE
    # Never outlive the CA: a leaf valid past its issuer would fail verification anyway.
    not_after = min(not_before + timedelta(days=LEAF_DAYS), ca_cert.not_valid_after_utc)
    if not_after <= now:
        raise TLSSetupError("The development CA (ca.pem) has expired; delete the TLS folder to create a new one.")
    public = key.public_key()
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(d) for d in _LEAF_DNS] + [x509.IPAddress(ip) for ip in _LEAF_IPS]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # Unencrypted on purpose; see ensure_dev_certificates. Mode 0600 protects it.
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from the first byte (O_EXCL: never overwrite, no symlinks)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, mode)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)  # exact mode regardless of umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)


def _check_private_mode(path: Path) -> None:
    if os.name != "posix":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise TLSSetupError(
            f"Private key {path} has mode {mode:04o}: other users can read it. Run: chmod 600 {path}"
        )
