"""TLS for idgate's server: a hardened server ``SSLContext`` and the uvicorn glue.

* :func:`harden_server_context` / :func:`server_ssl_context` apply Mozilla's "intermediate"
  server profile: TLS 1.2 and 1.3 only, and on TLS 1.2 only ECDHE key exchange with AEAD
  ciphers (no CBC, no static RSA, no SHA-1 MACs; RFC 9325 §4).
* :class:`HardenedConfig` / :func:`run_server` make uvicorn use that profile. uvicorn builds its
  own ``SSLContext`` inside ``Config.load()`` (``uvicorn.config.create_ssl_context``), so the
  hook is to let ``load()`` run and then harden ``self.ssl`` in place, before ``Server.startup``
  hands it to ``loop.create_server``. Whatever uvicorn options are passed (``ssl_ciphers``,
  ``ssl_context_factory``...), the context that serves is hardened.

The development certificates it serves by default are made by :mod:`idgate.server.certs`.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any

import uvicorn

from idgate.server.http_protocol import MAX_REQUEST_HEAD_BYTES, server_options

__all__ = [
    "INTERMEDIATE_TLS12_CIPHERS",
    "HardenedConfig",
    "build_server",
    "harden_server_context",
    "run_server",
    "server_ssl_context",
]

# --------------------------------------------------------------------------------------------
# Hardened server SSLContext
# --------------------------------------------------------------------------------------------

# Mozilla Server Side TLS "intermediate" (v5.7), TLS 1.2 part: forward-secret ECDHE key exchange
# with AEAD ciphers only. Order = server preference. TLS 1.3 suites are separate in OpenSSL and
# are all AEAD; OpenSSL's defaults (AES-256-GCM, ChaCha20-Poly1305, AES-128-GCM) are kept.
INTERMEDIATE_TLS12_CIPHERS: tuple[str, ...] = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
)
_SERVER_PROTOCOLS = (ssl.PROTOCOL_TLS_SERVER, ssl.PROTOCOL_TLS)


def harden_server_context(ctx: ssl.SSLContext) -> None:
    """Apply the "intermediate" server profile to ``ctx`` in place.

    * TLS 1.2 minimum (RFC 8996 deprecates 1.0 and 1.1), TLS 1.3 allowed.
    * TLS 1.2 cipher suites: ECDHE + AES-GCM / ChaCha20-Poly1305 only. This replaces any cipher
      string set before (e.g. uvicorn ``ssl_ciphers``).
    * ``OP_CIPHER_SERVER_PREFERENCE``: the server's order wins over a client offering weaker
      suites first.
    * ``OP_NO_COMPRESSION``: TLS compression leaks secrets (CRIME).
    * ``OP_NO_RENEGOTIATION``: no TLS 1.2 renegotiation (CPU DoS, CVE-2009-3555 class bugs).
    * ``OP_NO_TICKET``: no stateless TLS 1.2 session tickets. Their encryption key lives for the
      whole process and is never rotated by Python or uvicorn, so anyone who reads it later can
      decrypt every recorded session that was resumed with it, which defeats the forward secrecy
      ECDHE buys. Resumption then uses the in-memory session cache (and TLS 1.3 stateful tickets,
      which still run an ECDHE exchange); for an identity provider's few short connections the
      lost full handshakes cost little.

    Raises ``ValueError`` for a context that is not a generic server context (a fixed-version
    protocol such as ``PROTOCOL_TLSv1`` cannot be raised to TLS 1.2), and ``ssl.SSLError`` if
    the local OpenSSL cannot provide any of the ciphers.
    """
    if ctx.protocol not in _SERVER_PROTOCOLS:
        raise ValueError(f"Cannot harden an SSLContext built for {ctx.protocol!r}; use ssl.PROTOCOL_TLS_SERVER.")
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.MAXIMUM_SUPPORTED
    ctx.set_ciphers(":".join(INTERMEDIATE_TLS12_CIPHERS))
    options = ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_TICKET
    options |= getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    options |= getattr(ssl, "OP_SINGLE_ECDH_USE", 0)  # fresh ECDHE key per handshake (default in OpenSSL 3)
    ctx.options |= options
    _check_hardened(ctx)


def server_ssl_context(cert: Path | str, key: Path | str) -> ssl.SSLContext:
    """A hardened server context holding ``cert`` (chain, PEM) and its unencrypted ``key``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.fspath(cert), os.fspath(key))
    harden_server_context(ctx)
    return ctx


def _check_hardened(ctx: ssl.SSLContext) -> None:
    """Self-check: a system OpenSSL config cannot sneak a weak TLS 1.2 suite back in."""
    for cipher in ctx.get_ciphers():
        if cipher.get("protocol") == "TLSv1.3":
            continue
        if not cipher.get("aead") or cipher.get("kea") != "kx-ecdhe":
            raise ssl.SSLError(f"Hardened context still offers {cipher.get('name')}")


# --------------------------------------------------------------------------------------------
# uvicorn integration
# --------------------------------------------------------------------------------------------

# Request line plus headers must fit in this (see idgate.server.http_protocol).
MAX_INCOMPLETE_EVENT_SIZE = MAX_REQUEST_HEAD_BYTES
DEFAULT_LIMIT_CONCURRENCY = 512
DEFAULT_GRACEFUL_SHUTDOWN = 10


class HardenedConfig(uvicorn.Config):
    """A ``uvicorn.Config`` whose TLS context is hardened with :func:`harden_server_context`.

    uvicorn creates ``self.ssl`` in ``Config.load()`` (from ``ssl_certfile``/``ssl_keyfile`` via
    ``create_ssl_context``, or from ``ssl_context_factory``); ``Server.startup`` then passes
    ``config.ssl`` to ``loop.create_server``. Hardening right after ``load()`` therefore covers
    every way uvicorn can build the context.
    """

    def load(self) -> None:
        super().load()
        if self.ssl is not None:
            harden_server_context(self.ssl)


def build_server(
    app: Any,
    host: str,
    port: int,
    cert: Path | str,
    key: Path | str,
    *,
    limit_concurrency: int | None = DEFAULT_LIMIT_CONCURRENCY,
    **uvicorn_kwargs: Any,
) -> uvicorn.Server:
    """A ``uvicorn.Server`` over hardened HTTPS with idgate's defaults (see :func:`run_server`)."""
    for forbidden in ("ssl_certfile", "ssl_keyfile"):
        if forbidden in uvicorn_kwargs:
            raise TypeError(f"pass the certificate as cert=/key=, not {forbidden}=")
    options: dict[str, Any] = {
        # No "server: uvicorn" banner: it only helps someone looking for a vulnerable version.
        "server_header": False,
        "date_header": True,
        # X-Forwarded-* are believed only when explicitly asked for (behind a TLS proxy).
        "proxy_headers": False,
        "forwarded_allow_ips": None,
        # Idle keep-alive connections are closed after 5 s (slow-client resource exhaustion).
        "timeout_keep_alive": 5,
        # httptools + uvloop, request head bounded to 16 KiB; idgate speaks no WebSocket (ws=none).
        **server_options(),
        # SIGTERM (handled by uvicorn) waits this long for in-flight requests, then closes.
        "timeout_graceful_shutdown": DEFAULT_GRACEFUL_SHUTDOWN,
    }
    options.update(uvicorn_kwargs)
    config = HardenedConfig(
        app,
        host=host,
        port=port,
        ssl_certfile=os.fspath(cert),
        ssl_keyfile=os.fspath(key),
        limit_concurrency=limit_concurrency,
        **options,
    )
    return uvicorn.Server(config)


def run_server(
    app: Any,
    host: str,
    port: int,
    cert: Path | str,
    key: Path | str,
    *,
    limit_concurrency: int | None = DEFAULT_LIMIT_CONCURRENCY,
    **uvicorn_kwargs: Any,
) -> None:
    """Serve ``app`` over hardened HTTPS until SIGINT/SIGTERM (handled by uvicorn).

    Defaults: no ``Server`` header, ``Date`` header on, proxy headers off, keep-alive timeout
    5 s, at most ``limit_concurrency`` concurrent connections/tasks (then 503), request head
    bounded to 16 KiB, WebSockets off, 10 s graceful shutdown. Any of them can be overridden
    through ``uvicorn_kwargs``; the TLS hardening cannot.
    """
    build_server(app, host, port, cert, key, limit_concurrency=limit_concurrency, **uvicorn_kwargs).run()
