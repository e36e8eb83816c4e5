"""The HTTP/1.1 parser and event loop idgate serves with, and the bound on a request's head.

uvicorn offers two HTTP/1.1 implementations: ``h11`` (pure Python) and ``httptools`` (the
llhttp parser that Node.js uses, in C). Measured on the token endpoint here (2 cores, wrk -c32,
HTTPS), httptools with the uvloop event loop serves about 1.5x the requests of h11 on asyncio's
loop. h11 bounds the request head (``h11_max_incomplete_event_size``); httptools has no such
setting and buffers a header value until it is complete, so :class:`BoundedHttpToolsProtocol`
counts the bytes of every request head itself and answers ``431 Request Header Fields Too Large``
(RFC 6585 §5) past :data:`MAX_REQUEST_HEAD_BYTES`, the same 16 KiB that h11 allows and Node.js
uses (``--max-http-header-size``). The number of header fields is bounded again in the ASGI
layer (:class:`idgate.server.middleware.EdgeMiddleware`).

Where httptools or uvloop cannot be imported (uvloop has no Windows build), idgate falls back
to h11 and asyncio's loop, which keep the same bound.
"""

from __future__ import annotations

import importlib.util
from typing import Any

MAX_REQUEST_HEAD_BYTES = 16 * 1024

_TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
              b"content-type: text/plain; charset=utf-8\r\n"
              b"content-length: 38\r\n"
              b"connection: close\r\n\r\n"
              b"Request head larger than 16384 bytes.\n")


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


try:  # uvicorn's httptools protocol imports httptools itself
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is a dependency; kept for odd platforms
    HttpToolsProtocol = None


class _CorkedTransport:
    """Collects the writes of one event-loop turn and hands them to the transport as one.

    uvicorn writes a response's head and body separately; over TLS each write became its own
    record and its own send() - measured here as a fifth of the event loop's time on the token
    endpoint (A/B, wrk -c32, one worker: 1,910 -> 2,330 requests/s). Writes made in the same
    turn now leave together at the end of it. Everything
    but ``write`` goes to the real transport; ``close`` and ``abort`` flush first (abort drops
    the bytes, as it would have).
    """

    def __init__(self, transport: Any, loop: Any) -> None:
        self._transport, self._loop = transport, loop
        self._pending: list[bytes] = []
        # What uvicorn calls on every request, bound once rather than found by __getattr__.
        self.is_closing = transport.is_closing
        self.get_extra_info = transport.get_extra_info

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


if HttpToolsProtocol is not None:

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol with a 16 KiB ceiling on each request head.

        Two counts, because httptools buffers a header value until it is complete: the parsed
        request line and fields (exact, checked when the head is complete), and the raw bytes
        fed while a head is still incomplete (so the parser never holds more than the limit
        plus one read). Past either, the reply is 431 and the connection is closed.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._raw_head_bytes = 0
            self._head_pending = False
            self._refused = False

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.transport = _CorkedTransport(transport, self.loop)  # type: ignore[assignment]

        def _refuse(self) -> None:
            self._refused = True
            self.logger.warning("Request head over %d bytes refused (431).", MAX_REQUEST_HEAD_BYTES)
            self.transport.write(_TOO_LARGE)
            self.transport.close()

        def on_message_begin(self) -> None:
            self._head_pending = True
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._head_pending = False
            self._raw_head_bytes = 0
            # The parsed head: the URL (method, version, spaces and CRLF: 16), each field with
            # ": " and CRLF. Counted here from what uvicorn collected, not per parser callback.
            parsed = len(self.url) + 16 + sum(len(name) + len(value) + 4 for name, value in self.headers)
            if parsed > MAX_REQUEST_HEAD_BYTES:
                self._refuse()
                return  # no ASGI cycle for this request
            super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            if not self._refused:
                super().on_body(body)

        def on_message_complete(self) -> None:
            if not self._refused:
                super().on_message_complete()

        def shutdown(self) -> None:
            """SIGTERM: an idle keep-alive connection is closed at once. uvicorn closes it
            gracefully, and over TLS that waits for the client's close_notify, which an idle
            client never sends - so every idle connection held shutdown for the full 10 s
            grace period. The close_notify is still sent; the wait for the answer is not."""
            idle = self.cycle is None or self.cycle.response_complete
            super().shutdown()
            if idle:
                self.transport.abort()

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            super().data_received(data)
            if not self._head_pending or self._refused or self.transport.is_closing():
                return
            self._raw_head_bytes += len(data)
            if self._raw_head_bytes > MAX_REQUEST_HEAD_BYTES:
                self._refuse()


def server_options() -> dict[str, Any]:
    """uvicorn settings for the parser and loop (see the module docstring for why these)."""
    options: dict[str, Any] = {"ws": "none"}
    if HttpToolsProtocol is not None:
        # By import path, so the worker supervisor can hand the config to spawned processes.
        options["http"] = f"{__name__}:BoundedHttpToolsProtocol"
    else:
        options["http"] = "h11"
        options["h11_max_incomplete_event_size"] = MAX_REQUEST_HEAD_BYTES
    options["loop"] = "uvloop" if _available("uvloop") else "asyncio"
    return options
