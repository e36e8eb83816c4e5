"""``POST /login``: idgate's first-party password login (``idgate_login_endpoint``).

For the provider's own apps only: third-party apps must use the authorization code flow and
never see a password (RFC 9700 §2.4 forbids the resource-owner password grant).
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from idgate.errors import MethodNotAllowed
from idgate.server.deps import provider_of
from idgate.rs.dpop import proof_from_headers
from idgate.server.forms import read_params, required
from idgate.server.responses import token_response
from idgate.services.dpop import issuer_dpop
from idgate.services.login import password_login

router = APIRouter()


@router.post("/login", summary="First-party password login", response_class=JSONResponse)
async def login(request: Request) -> Response:
    provider = provider_of(request)
    params = await read_params(request, provider.settings.max_body_bytes)
    # RFC 9449 §5: a DPoP proof binds the tokens to the app's key. It is checked (nonce, replay)
    # before the password, so a retry for a nonce costs no password hash.
    proof_header = proof_from_headers(request.scope["headers"])
    dpop = issuer_dpop(provider)
    if proof_header is None:
        proof = None
    elif dpop.in_process:
        proof = dpop.check(proof_header, "/login")
    else:
        proof = await anyio.to_thread.run_sync(dpop.check, proof_header, "/login")
    # otp: the second factor when the account has one (else 401 mfa_required); device_token: the
    # known-device token an earlier login returned (exempts this login from others' back-off).
    result = await password_login(provider, required(params, "username"), required(params, "password"),
                                  scope=params.get("scope"), audience=params.get("audience"),
                                  otp=params.get("otp") or None, device_token=params.get("device_token") or None,
                                  dpop_jkt=proof.jkt if proof is not None else None)
    return token_response(result.as_dict(), dpop.response_headers() if proof is not None else None)


@router.api_route("/login", methods=["GET", "HEAD", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def login_wrong_method(request: Request) -> JSONResponse:
    raise MethodNotAllowed()
