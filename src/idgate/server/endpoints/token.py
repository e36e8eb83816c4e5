"""``POST /token`` (RFC 6749 §3.2): form body only, dispatched through the grant table
(:data:`idgate.server.grants.GRANTS`, one module per ``grant_type``).

The pipeline reads like a checklist: parse the form (size, type, duplicates) -> allow-listed
grant type -> the DPoP proof, if any (RFC 9449 §5: one header, checked, with the server nonce)
-> client authentication -> dispatch with the proof key's thumbprint. Every reply carries
``Cache-Control: no-store`` (§5.1).
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from idgate.errors import MethodNotAllowed, UnsupportedGrantType
from idgate.provider import Provider
from idgate.server.client_auth import assertion_audiences, authenticate_client, authenticate_from_cache
from idgate.server.deps import provider_of
from idgate.server.grants import GRANTS, GrantFunction
from idgate.server.forms import read_params, required
from idgate.server.responses import token_response
from idgate.rs.dpop import proof_from_headers
from idgate.server.routing import plain_router
from idgate.services.dpop import issuer_dpop, required_binding
from idgate.services.clients.view import ClientView
from idgate.services.issuance import TokenResponse

router = plain_router()  # the busiest endpoint: served without FastAPI's per-request machinery


def _in_memory_ready(provider: Provider) -> bool:
    return provider.keys.fresh() and provider.audiences.fresh()


def _grant(provider: Provider, params: dict[str, str], client: ClientView | None, handler: GrantFunction,
           proof: str | None) -> TokenResponse:
    checked = issuer_dpop(provider).check(proof, "/token")
    return handler(provider, params, client, required_binding(client, checked))


def _authenticate_and_grant(provider: Provider, params: dict[str, str], authorization: str | None,
                            handler: GrantFunction, proof: str | None) -> TokenResponse:
    # The proof before the client: a retry for a nonce costs no client authentication.
    checked = issuer_dpop(provider).check(proof, "/token")
    client = authenticate_client(provider, params, authorization, assertion_audiences(provider.settings.issuer))
    return handler(provider, params, client, required_binding(client, checked))


@router.post("/token", summary="OAuth 2.0 token endpoint")
async def token(request: Request) -> Response:
    provider = provider_of(request)
    params = await read_params(request, provider.settings.max_body_bytes, allow_json=False)
    grant_type = required(params, "grant_type")
    registered = GRANTS.get(grant_type)
    if registered is None:
        raise UnsupportedGrantType()
    handler = registered.grant
    authorization = request.headers.get("authorization")
    proof = proof_from_headers(request.scope["headers"])
    # A service asking for its own token (client_credentials) is the hot path: authenticated
    # from the client cache and signed right here, a token costs no thread hop and no query
    # (with a DPoP proof too, when its replay cache is in this process).
    in_memory = registered.in_memory and (proof is None or issuer_dpop(provider).in_process)
    client = authenticate_from_cache(provider, params, authorization) if in_memory else None
    if client is not None and _in_memory_ready(provider):
        result = _grant(provider, params, client, handler, proof)
    else:  # everything else reads or writes the database: one trip to a worker thread
        result = await anyio.to_thread.run_sync(_authenticate_and_grant, provider, params, authorization, handler,
                                                proof)
    nonce_header = issuer_dpop(provider).response_headers() if proof is not None else None
    return token_response(result.as_dict(), nonce_header)


@router.api_route("/token", methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def token_wrong_method(request: Request) -> JSONResponse:
    raise MethodNotAllowed()
