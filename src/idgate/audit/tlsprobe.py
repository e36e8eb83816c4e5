"""Real TLS handshakes with the standard ``ssl`` module (no hand-written TLS parsing).

Every probe uses a *verifying* client context (system roots plus ``--ca``). A handshake that
gets as far as the certificate check and fails there still shows that the server accepted the
protocol version and cipher suites offered, so protocol findings stay correct even when the
certificate is untrusted; the certificate itself is judged by its own check.
"""

from __future__ import annotations

import socket
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path

# Messages that mean *this machine* could not offer what was asked (not the server refusing).
_LOCAL_LIMITS = ("NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE", "NO_CIPHER_MATCH", "no cipher match",
                 "UNSUPPORTED_PROTOCOL")


@dataclass(frozen=True)
class Handshake:
    accepted: bool  # the server went ahead with what we offered
    version: str | None = None
    cipher: str | None = None
    cert_error: str | None = None  # reached the certificate check, which failed
    error: str | None = None  # refused (or unreachable) and why
    unreachable: bool = False
    local_limit: bool = False  # our OpenSSL could not offer it
    cert_der: bytes | None = None


def client_context(ca: Path | None) -> ssl.SSLContext:
    """System roots plus an optional private CA; certificate and host name always checked."""
    context = ssl.create_default_context()
    if ca is not None:
        context.load_verify_locations(cafile=str(ca))
    return context


def _probe_context(ca: Path | None, version: ssl.TLSVersion | None, ciphers: str | None) -> ssl.SSLContext:
    context = client_context(ca)
    with warnings.catch_warnings():
        # Offering TLS 1.0/1.1 is the point of the probe; Python warns that they are deprecated.
        warnings.simplefilter("ignore", DeprecationWarning)
        if version is not None:
            context.minimum_version = version
            context.maximum_version = version
        if ciphers is not None:
            context.set_ciphers(ciphers)
    return context


def handshake(host: str, port: int, *, ca: Path | None, timeout: float,
              version: ssl.TLSVersion | None = None, ciphers: str | None = None) -> Handshake:
    try:
        context = _probe_context(ca, version, ciphers)
    except ssl.SSLError as exc:
        return Handshake(False, error=f"this machine's OpenSSL cannot offer it ({exc})", local_limit=True)
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        return Handshake(False, error=f"cannot connect to {host}:{port}: {exc.strerror or exc}", unreachable=True)
    with raw:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                tls = context.wrap_socket(raw, server_hostname=host)
        except ssl.SSLCertVerificationError as exc:
            return Handshake(True, cert_error=str(exc.verify_message or exc))
        except ssl.SSLError as exc:
            text = str(exc)
            limited = any(marker in text for marker in _LOCAL_LIMITS) and "ALERT" not in text
            return Handshake(False, error=exc.reason or text, local_limit=limited)
        except OSError as exc:  # reset or timeout mid-handshake: the server would not go on
            return Handshake(False, error=f"connection ended during the handshake ({exc.strerror or exc})")
        with tls:
            cipher = tls.cipher()
            return Handshake(True, version=tls.version(), cipher=cipher[0] if cipher else None,
                             cert_der=tls.getpeercert(binary_form=True))


def tls12_suites(predicate_name: str) -> str | None:
    """An OpenSSL cipher string naming every TLS 1.2 suite of one weak kind this machine can offer.

    ``legacy``: not AEAD (CBC, RC4, 3DES, NULL); ``static-rsa``: RSA key exchange, no forward
    secrecy. Anonymous, PSK and SRP suites are left out (they need no certificate or a shared
    secret, so a normal server never picks them for a normal client).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    names = []
    for suite in context.get_ciphers():
        if suite["protocol"] == "TLSv1.3" or suite.get("auth") == "auth-null":
            continue
        if any(tag in suite["name"] for tag in ("PSK", "SRP")):
            continue
        if predicate_name == "legacy" and not suite["aead"]:
            names.append(suite["name"])
        elif predicate_name == "static-rsa" and suite["kea"] == "kx-rsa":
            names.append(suite["name"])
    return ":".join(names) + ":@SECLEVEL=0" if names else None


def suite_kind(name: str) -> str:
    upper = name.upper()
    for marker, kind in (("RC4", "RC4"), ("DES-CBC3", "3DES"), ("3DES", "3DES"), ("NULL", "no encryption")):
        if marker in upper:
            return kind
    return "CBC"
