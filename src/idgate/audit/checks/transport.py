"""Transport: is the connection private, and is the server who it claims to be?"""

from __future__ import annotations

import re
import ssl
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.x509.oid import NameOID

from idgate.audit.checks._probing import credential_endpoints, describe, processed, wrong_credentials
from idgate.audit.model import Outcome, Skip, failed, passed, skipped, warned
from idgate.audit.registry import check
from idgate.audit.target import Target
from idgate.audit.tlsprobe import suite_kind, tls12_suites

HSTS_GOOD = 365 * 86_400  # one year, the usual recommendation (and the preload list's minimum)
HSTS_MIN = 180 * 86_400
EXPIRY_FAIL_DAYS = 7
EXPIRY_WARN_DAYS = 30


@check("transport.https", group="transport", title="The service answers over HTTPS",
       explanation="""HTTPS (HTTP over TLS) encrypts passwords and tokens on their way and proves which
       server you are talking to. Over plain HTTP anyone on the network path (Wi-Fi, proxy, ISP) can read
       and change them.""",
       fix="Serve only https:// URLs (idgate does by default) and give the auditor the https:// address.")
def https_reachable(target: Target) -> Outcome:
    if target.scheme != "https":
        return failed(f"{target.url} is not an https:// URL: passwords and tokens would travel readable by anyone.")
    hs = target.connection()
    if hs.unreachable:
        return failed(f"Could not reach {target.host}:{target.port}: {hs.error}.")
    if not hs.accepted:
        return failed(f"Connected to {target.host}:{target.port} but no TLS handshake was possible: {hs.error}.")
    if hs.cert_error:
        return passed(f"TLS is offered at {target.host}:{target.port} (its certificate is not trusted: "
                      "see tls.certificate).")
    return passed(f"Connected to {target.host}:{target.port} with {hs.version}, cipher {hs.cipher}.")


@check("tls.certificate", group="transport", title="The certificate is trusted and names this host",
       explanation="""The certificate is the server's proof of identity. It must be signed by an authority
       your system trusts (a CA) and list this host name; otherwise an attacker could pretend to be the
       server. There is no switch to skip this check: an untrusted certificate is a finding.""",
       fix="""Use a certificate from a public CA (for example Let's Encrypt) that lists this host name.
       For a private or development CA (like idgate's own), pass --ca FILE so clients and the auditor trust it.""")
def certificate(target: Target) -> Outcome:
    hs = target.require_tls()
    if hs.cert_error:
        hint = "" if target.options.ca else " If it comes from a private CA, pass --ca FILE."
        return failed(f"Certificate refused: {hs.cert_error}.{hint}")
    cert = _leaf(hs.cert_der)
    names = _names(cert)
    issuer = _cn(cert.issuer)
    return passed(f"Trusted chain (issued by {issuer}); names {', '.join(names) or '(none)'} include {target.host}.")


@check("tls.cert-expiry", group="transport", title="The certificate is not about to expire",
       explanation="""Certificates are valid for a limited time. When one expires every client refuses
       to connect, so logins stop working until it is replaced.""",
       fix=f"""Renew automatically (ACME / Let's Encrypt renews 30 days ahead) and alert when fewer than
       {EXPIRY_WARN_DAYS} days are left.""")
def cert_expiry(target: Target) -> Outcome:
    hs = target.require_tls()
    if hs.cert_error or hs.cert_der is None:
        raise Skip("the certificate is not trusted, so its dates were not read (see tls.certificate)")
    cert = _leaf(hs.cert_der)
    days = (cert.not_valid_after_utc - datetime.now(UTC)).days
    text = f"Valid until {cert.not_valid_after_utc:%Y-%m-%d}: {days} days left."
    if days < EXPIRY_FAIL_DAYS:
        return failed(text)
    if days < EXPIRY_WARN_DAYS:
        return warned(text)
    return passed(text)


@check("tls.min-version", group="transport", title="Old TLS versions 1.0 and 1.1 are refused",
       explanation="""TLS 1.0 and 1.1 are from 1999 and 2006 and have known weaknesses (BEAST, weak
       SHA-1/MD5 hashing). RFC 8996 forbids them; an attacker who can downgrade a connection to them
       has a much easier job.""",
       fix="Set the server's minimum TLS version to 1.2 (idgate's default: TLS 1.2 and 1.3 only).")
def min_version(target: Target) -> Outcome:
    target.require_tls()
    accepted, refused = [], []
    for label, version in (("TLS 1.0", ssl.TLSVersion.TLSv1), ("TLS 1.1", ssl.TLSVersion.TLSv1_1)):
        hs = target.probe(version=version, ciphers="ALL:@SECLEVEL=0")
        if hs.unreachable:
            raise Skip(f"the server stopped answering: {hs.error}")
        if hs.local_limit:
            refused.append(f"{label} not tested (this machine's OpenSSL cannot offer it)")
        elif hs.accepted:
            accepted.append(f"{label} accepted" + (f" ({hs.cipher})" if hs.cipher else ""))
        else:
            refused.append(f"{label} refused")
    if accepted:
        return failed("; ".join(accepted + refused) + ".")
    if all("not tested" in r for r in refused):
        raise Skip("this machine's OpenSSL cannot offer TLS 1.0 or 1.1, so refusal could not be tested")
    return passed("; ".join(refused) + ".")


@check("tls.tls13", group="transport", title="TLS 1.3 is offered",
       explanation="""TLS 1.3 (2018) removed every weak option of earlier versions and is faster to
       connect. TLS 1.2 with good settings is still safe, so this is a recommendation.""",
       fix="Enable TLS 1.3 on the server or proxy (OpenSSL 1.1.1+; idgate prefers it).")
def tls13(target: Target) -> Outcome:
    target.require_tls()
    hs = target.probe(version=ssl.TLSVersion.TLSv1_3)
    if hs.unreachable:
        raise Skip(f"the server stopped answering: {hs.error}")
    if hs.local_limit:
        raise Skip("this machine's OpenSSL cannot offer TLS 1.3")
    return passed("TLS 1.3 accepted.") if hs.accepted else warned(f"TLS 1.3 refused ({hs.error}).")


@check("tls.cipher-suites", group="transport", title="TLS 1.2 refuses CBC, RC4, 3DES and unencrypted suites",
       explanation="""A cipher suite is the set of algorithms that protect a connection. Old ones (CBC
       mode, RC4, 3DES) have practical attacks (Lucky13, padding oracles, Sweet32); only the modern
       'AEAD' suites (AES-GCM, ChaCha20-Poly1305) should be accepted.""",
       fix="""Allow only ECDHE with AES-GCM or ChaCha20-Poly1305 on TLS 1.2 (Mozilla's 'intermediate'
       profile; idgate's server does this).""")
def cipher_suites(target: Target) -> Outcome:
    return _offer_suites(target, "legacy", "legacy (non-AEAD) suites")


@check("tls.forward-secrecy", group="transport", title="TLS 1.2 refuses static-RSA key exchange",
       explanation="""With 'static RSA' key exchange, whoever later obtains the server's private key can
       decrypt every recorded past connection, including passwords. ECDHE key exchange ('forward
       secrecy') makes a fresh key per connection, so old traffic stays private.""",
       fix="Offer only ECDHE (or DHE) key exchange on TLS 1.2; TLS 1.3 always has forward secrecy.")
def forward_secrecy(target: Target) -> Outcome:
    return _offer_suites(target, "static-rsa", "static-RSA suites")


def _offer_suites(target: Target, kind: str, label: str) -> Outcome:
    target.require_tls()
    suites = tls12_suites(kind)
    if suites is None:
        raise Skip(f"this machine's OpenSSL cannot offer any {label}")
    hs = target.probe(version=ssl.TLSVersion.TLSv1_2, ciphers=suites)
    if hs.unreachable:
        raise Skip(f"the server stopped answering: {hs.error}")
    if hs.local_limit:
        raise Skip(f"this machine's OpenSSL cannot offer {label}")
    offered = len(suites.split(":")) - 1
    if hs.accepted:
        chosen = f"{hs.cipher} ({suite_kind(hs.cipher) if kind == 'legacy' else 'static RSA'})" if hs.cipher \
            else "one of them (the handshake then stopped at the certificate)"
        return failed(f"Offered nothing but {offered} {label} on TLS 1.2; the server accepted {chosen}.")
    return passed(f"Offered nothing but {offered} {label} on TLS 1.2; the server refused them all "
                  f"(handshake ended: {hs.error}).")


@check("transport.hsts", group="transport", title="HSTS tells browsers to use HTTPS only",
       explanation="""The Strict-Transport-Security header tells browsers to use HTTPS for this site for
       the next max-age seconds, even if someone types or links http://. Without it, the first plain
       request can be intercepted and redirected to a fake site (SSL stripping).""",
       fix="""Send 'Strict-Transport-Security: max-age=63072000; includeSubDomains' on every HTTPS response
       (idgate does).""")
def hsts(target: Target) -> Outcome:
    target.require_https()
    url = target.discovery_url or target.url + "/"
    try:
        target.discovery()
        url = target.discovery_url or url
    except Skip:
        pass
    response = target.request("GET", url)
    value = response.headers.get("strict-transport-security")
    where = f"GET {urlsplit(url).path or '/'} ({response.status_code})"
    if not value:
        return failed(f"{where}: no Strict-Transport-Security header.")
    match = re.search(r"max-age\s*=\s*\"?(\d+)", value, re.IGNORECASE)
    age = int(match.group(1)) if match else 0
    text = f"{where}: Strict-Transport-Security: {value}"
    if age < HSTS_MIN:
        return failed(f"{text} (max-age {age}s is under 180 days).")
    if age < HSTS_GOOD:
        return warned(f"{text} (max-age under a year).")
    return passed(text)


@check("transport.plain-http", group="transport", title="Plain HTTP redirects and never takes credentials",
       explanation="""If the server also answers plain http://, a login page or password sent there
       travels unencrypted. A plain-HTTP port should only redirect to https:// and refuse credentials.""",
       fix="""Make port 80 answer every request with a redirect (301/308) to https://, and refuse (do not
       process) credentials sent to it; better still, do not listen on plain HTTP at all.""")
def plain_http(target: Target) -> Outcome:
    if not target.host:
        raise Skip("no host name in the URL")
    base = (target.options.http_url or f"http://{target.host}:80").rstrip("/")
    if urlsplit(base).scheme != "http":
        raise Skip(f"--http-url {base} is not an http:// URL")
    try:
        page = target.request("GET", base + "/", plain_http=True)
    except httpx.TransportError as exc:
        return skipped(f"Nothing answers plain HTTP at {base} ({type(exc).__name__}); pass --http-url URL if "
                       "a plain-HTTP port exists elsewhere.")
    findings: list[str] = []
    location = page.headers.get("location", "")
    if page.is_redirect and location.startswith("https://"):
        ok = [f"GET / redirects to {location}"]
    else:
        ok = []
        findings.append(f"GET {base}/ answered {page.status_code} without redirecting to https://")
    try:
        endpoints = credential_endpoints(target)
    except Skip:
        endpoints = []
    for kind, endpoint in endpoints:
        path = urlsplit(endpoint).path
        reply = target.request("POST", base + path, data=wrong_credentials(target, kind), plain_http=True)
        if reply.is_redirect or not processed(reply):
            ok.append(f"POST {path} with (wrong) credentials not processed ({describe(reply)})")
        else:
            findings.append(f"POST {base}{path} with (wrong) credentials was processed ({describe(reply)})")
    if findings:
        return failed("; ".join(findings + ok) + ".")
    return passed("; ".join(ok) + ".")


def _leaf(der: bytes | None) -> x509.Certificate:
    if der is None:
        raise Skip("the server sent no certificate")
    return x509.load_der_x509_certificate(der)


def _names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(n) for n in san.get_values_for_type(x509.DNSName)] + \
        [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


def _cn(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else name.rfc4514_string()
