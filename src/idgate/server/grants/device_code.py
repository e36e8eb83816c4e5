"""``grant_type=urn:ietf:params:oauth:grant-type:device_code`` (RFC 8628 §3.4): the device polls."""

from __future__ import annotations

from idgate.errors import InvalidClient, InvalidRequest
from idgate.provider import Provider
from idgate.services.client_tokens import TokenSet
from idgate.services.clients.view import ClientView
from idgate.services.device_flow import poll


def grant(provider: Provider, params: dict[str, str], client: ClientView | None, dpop_jkt: str | None) -> TokenSet:
    if client is None:
        raise InvalidClient(detail="device_code without a registered client")
    device_code = params.get("device_code") or ""
    if not device_code or len(device_code) > 128:
        raise InvalidRequest("The 'device_code' parameter is required.")
    return poll(provider, client, device_code, dpop_jkt=dpop_jkt)
