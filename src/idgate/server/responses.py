"""Response helpers shared by endpoints."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from idgate import jsonenc

# RFC 6749 §5.1: token responses MUST carry Cache-Control: no-store and Pragma: no-cache.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


_TOKEN_HEADERS = ((b"content-type", b"application/json"),
                  *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in NO_STORE.items()))


class _TokenReply(Response):
    """The headers of every token reply are the same but for the length: set them as bytes
    rather than have ``Response`` build them from a dict for each reply."""

    media_type = "application/json"

    def __init__(self, content: bytes, extra: dict[str, str] | None = None) -> None:
        self.status_code, self.body, self.background = 200, content, None
        self.raw_headers = [(b"content-length", str(len(content)).encode("ascii")), *_TOKEN_HEADERS]
        if extra:
            self.raw_headers.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items())


def token_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """RFC 6749 §5.1: the JSON token reply (the JSON ``JSONResponse`` writes, serialised faster);
    ``headers``: a few more, e.g. RFC 9449 §8.2 ``DPoP-Nonce``."""
    return _TokenReply(jsonenc.compact(body), headers)
