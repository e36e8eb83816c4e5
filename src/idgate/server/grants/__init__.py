"""Token-endpoint grants (RFC 6749 §4-6), one module per ``grant_type``, registered in ``GRANTS``.

Every grant module has the same small interface: ``grant(provider, params, client, dpop_jkt)``
returns the token response, or raises an :mod:`idgate.errors` error. ``client`` is the
authenticated registered client, or ``None`` when the request names none (first-party refresh
only); ``dpop_jkt`` is the thumbprint of the key of the request's checked DPoP proof (RFC 9449
§5), or None: the access token is bound to it (``cnf.jkt``), and so are a public client's
refresh tokens. The
rules and the state live in :mod:`idgate.services`; a grant module only checks that the client
may use the grant and calls its service. Adding a grant: one module here, one in services if it
keeps state, one line in ``GRANTS`` (docs/architecture.md has the refresh grant as the example).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from idgate.provider import Provider
from idgate.server.grants import authorization_code, client_credentials, device_code, refresh_token, token_exchange
from idgate.services.clients.view import ClientView
from idgate.services.issuance import TokenResponse

GrantFunction = Callable[[Provider, dict[str, str], ClientView | None, str | None], TokenResponse]


@dataclass(frozen=True, slots=True)
class GrantType:
    """A registered ``grant_type``: its handler, and whether it may run on the event loop.

    ``in_memory`` grants do pure computation once the client is known (no rows read or written):
    when every cache they read is fresh they run on the event loop instead of a worker thread."""

    grant: GrantFunction
    in_memory: bool = False


GRANTS: dict[str, GrantType] = {
    "authorization_code": GrantType(authorization_code.grant),
    "refresh_token": GrantType(refresh_token.grant),
    "client_credentials": GrantType(client_credentials.grant, in_memory=True),
    "urn:ietf:params:oauth:grant-type:device_code": GrantType(device_code.grant),  # RFC 8628
    "urn:ietf:params:oauth:grant-type:token-exchange": GrantType(token_exchange.grant),  # RFC 8693
}
