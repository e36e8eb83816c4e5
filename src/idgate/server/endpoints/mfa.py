"""Second-factor self-service for the signed-in user (bearer access token of this issuer).

* ``GET /mfa`` - status: ``none``, ``pending`` or ``active``, recovery codes left, required?
* ``POST /mfa/totp`` - start an enrolment: secret, ``otpauth://`` URI and QR code (SVG)
* ``POST /mfa/totp/confirm`` ``{"otp"}`` - activate with a first code; returns ten recovery codes
* ``POST /mfa/totp/remove`` ``{"otp"}`` - remove the factor (needs a current code; refused while
  a role of the user requires a second factor)
* ``POST /mfa/recovery-codes`` ``{"otp"}`` - replace the recovery codes (needs a current code)

A token from a login whose role requires MFA that is not set up yet (scope
``idgate:mfa-enroll``) is accepted here and nowhere else of idgate's.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, StringConstraints

from idgate.errors import InvalidToken
from idgate.mfa import service as mfa
from idgate.server.deps import own_token, provider_of, refuse_token
from idgate.server.schemas import ERROR_RESPONSES
from idgate.store import users
from idgate.store.db import transaction

bearer = HTTPBearer(auto_error=False, description="The user's idgate access token.")
router = APIRouter(prefix="/mfa", tags=["mfa"], responses=ERROR_RESPONSES)


class OtpBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    otp: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class StatusOut(BaseModel):
    totp: str
    recovery_codes_left: int
    required: bool


class EnrolmentOut(BaseModel):
    secret: str
    otpauth_uri: str
    qr_svg: str


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


def _active_user(request: Request, sub: str) -> bool:
    with transaction(provider_of(request).sessions) as session:
        user = users.get(session, sub)
        return user is not None and not user.disabled


async def current_user(request: Request,
                       credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    auth = await own_token(request, credentials, "An access token is required.")
    sub = str(auth.claims["sub"])
    if not await anyio.to_thread.run_sync(_active_user, request, sub):
        raise refuse_token(request, auth, InvalidToken("user_inactive"))
    return sub


User = Annotated[str, Depends(current_user)]
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@router.get("", summary="Second-factor status of the signed-in user", response_model=StatusOut)
async def status(request: Request, sub: User) -> Any:
    result = await anyio.to_thread.run_sync(mfa.status, provider_of(request), sub)
    return JSONResponse(result.as_dict(), headers=_NO_STORE)


@router.post("/totp", summary="Start a TOTP enrolment (QR code and secret)", response_model=EnrolmentOut)
async def enroll(request: Request, sub: User) -> Any:
    e = await anyio.to_thread.run_sync(lambda: mfa.enroll_totp(provider_of(request), sub))
    return JSONResponse({"secret": e.secret, "otpauth_uri": e.uri, "qr_svg": e.qr_svg}, headers=_NO_STORE)


@router.post("/totp/confirm", summary="Activate TOTP with a first code; returns recovery codes",
             response_model=RecoveryCodesOut)
async def confirm(request: Request, body: OtpBody, sub: User) -> Any:
    codes = await anyio.to_thread.run_sync(lambda: mfa.confirm_totp(provider_of(request), sub, body.otp))
    return JSONResponse({"recovery_codes": list(codes)}, headers=_NO_STORE)


@router.post("/totp/remove", summary="Remove TOTP (needs a current code or a recovery code; refused while a "
                                    "role requires a second factor)")
async def remove(request: Request, body: OtpBody, sub: User) -> Any:
    await anyio.to_thread.run_sync(lambda: mfa.remove_own_totp(provider_of(request), sub, body.otp))
    return JSONResponse({}, headers=_NO_STORE)


@router.post("/recovery-codes", summary="Replace the recovery codes (needs a current code)",
             response_model=RecoveryCodesOut)
async def regenerate(request: Request, body: OtpBody, sub: User) -> Any:
    codes = await anyio.to_thread.run_sync(lambda: mfa.regenerate_own_recovery_codes(provider_of(request), sub,
                                                                                      body.otp))
    return JSONResponse({"recovery_codes": list(codes)}, headers=_NO_STORE)
