"""``POST /login``: idgate's first-party password login (``idgate_login_endpoint``).

For the provider's own apps only: third-party apps must use the authorization code flow and
never see a password (RFC 9700 §2.4 forbids the resource-owner password grant).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from idgate.errors import MethodNotAllowed
from idgate.server.deps import provider_of
from idgate.server.forms import read_params, required
from idgate.server.responses import token_response
from idgate.services.login import password_login

router = APIRouter()


@router.post("/login", summary="First-party password login", response_class=JSONResponse)
async def login(request: Request) -> Response:
    provider = provider_of(request)
    params = await read_params(request, provider.settings.max_body_bytes)
    # otp: the second factor when the account has one (else 401 mfa_required); device_token: the
    # known-device token an earlier login returned (exempts this login from others' back-off).
    result = await password_login(provider, required(params, "username"), required(params, "password"),
                                  scope=params.get("scope"), audience=params.get("audience"),
                                  otp=params.get("otp") or None, device_token=params.get("device_token") or None)
    return token_response(result.as_dict())


@router.api_route("/login", methods=["GET", "HEAD", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def login_wrong_method(request: Request) -> JSONResponse:
    raise MethodNotAllowed()
