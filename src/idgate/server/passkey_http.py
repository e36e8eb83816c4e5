"""What the passkey endpoints share: the JSON a page script posts (size-limited, CSRF token
in the ``X-CSRF-Token`` header, ``application/json`` only, so no plain HTML form can post it
from another site) and the JSON replies (``no-store``), errors with the OAuth error shape."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import Request
from fastapi.responses import Response


from idgate.errors import IdgateError, InvalidRequest, TooManyRequests, UnsupportedMediaType
from idgate.passkeys.errors import PasskeyRefused
from idgate.passkeys.relying_party import MAX_RESPONSE_BYTES, parse_response
from idgate.server.forms import read_body
from idgate.server.pages import Browser, check_csrf, set_cookie

CSRF_HEADER = "x-csrf-token"
log = logging.getLogger("idgate.passkeys")


def json_reply(body: dict[str, Any] | str, *, status: int = 200, browser: Browser | None = None) -> Response:
    content = body if isinstance(body, str) else json.dumps(body)
    response = Response(content, status_code=status, media_type="application/json",
                        headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
    return set_cookie(response, browser)


def json_error(exc: IdgateError, **extra: Any) -> Response:
    """The refusal as ``{"error", "error_description"}``; the reason goes to the log only."""
    if isinstance(exc, PasskeyRefused):
        log.info(json.dumps({"event": "passkey_refused", "reason": exc.reason, "detail": exc.detail}))
    status = exc.status_code if 400 <= exc.status_code < 500 else 400
    response = json_reply({"error": exc.error, "error_description": exc.description, **extra}, status=status)
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def check_script_request(request: Request, browser: Browser | None) -> None:
    """A request from idgate's own page script: the session's CSRF token in the header."""
    check_csrf(browser, request.headers.get(CSRF_HEADER))


async def read_credential(request: Request, browser: Browser | None) -> dict[str, Any]:
    """The posted credential JSON (``{"credential": {...}, "name": "..."}`` or the credential
    itself), after the CSRF and media-type checks."""
    check_script_request(request, browser)
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType("Send the passkey response as application/json.")
    body = parse_response(await read_body(request, MAX_RESPONSE_BYTES))
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    return body
