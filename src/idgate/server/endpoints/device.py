"""The device flow's two ends (RFC 8628): the device asks, the user approves in a browser.

    POST /device_authorization   §3.1: the client (authenticated like at /token) gets a device
                                 code, a user code and where to send the user
    GET  /device[?user_code=]    §3.3: sign in first (then back here), enter the code - or, from
                                 verification_uri_complete, go straight to the confirmation
    POST /device                 the typed code -> the confirmation page (throttled per IP)
    POST /device/confirm         allow or deny

The confirmation page names the app and what it asks for and tells the user to go on only if
they started this themselves (§5.4, the remote phishing pattern): a code someone sent you is the
attack. Rules in :mod:`idgate.services.device_flow`.
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import Response

from idgate import events
from idgate.errors import InvalidClient, InvalidRequest
from idgate.provider import Provider
from idgate.server.client_auth import assertion_audiences, authenticate_client
from idgate.server.deps import provider_of
from idgate.server.endpoints.account import signed_in
from idgate.server.forms import read_params
from idgate.server.interaction_pages import scope_lines
from idgate.server.interactions import start_account_sign_in
from idgate.server.pages import Browser, CsrfError, check_csrf, error_page, render, run
from idgate.server.responses import token_response
from idgate.services import device_flow
from idgate.store.users import UserView
from idgate.throttle import IP, throttle_for
from idgate.throttle.errors import Throttled

router = APIRouter()


def _start(provider: Provider, params: dict[str, str], authorization: str | None) -> dict[str, object]:
    client = authenticate_client(provider, params, authorization, assertion_audiences(provider.settings.issuer))
    if client is None:  # §3.1: client authentication as at the token endpoint (RFC 6749 §5.2)
        if params.get("client_id"):
            raise InvalidClient(detail=f"unknown client {params['client_id'][:64]!r}")
        raise InvalidRequest("Send client_id (and the client's credentials, for a confidential client).")
    return device_flow.start(provider, client, params).as_dict(provider.settings.issuer)


@router.post("/device_authorization", summary="Device authorization (RFC 8628 §3.1)")
async def device_authorization(request: Request) -> Response:
    provider = provider_of(request)
    params = await read_params(request, provider.settings.max_body_bytes, allow_json=False)
    body = await anyio.to_thread.run_sync(_start, provider, params, request.headers.get("authorization"))
    return token_response(body)


def _entry_page(browser: Browser, *, code: str = "", error: str | None = None, status: int = 200) -> Response:
    return render("device.html", status=status, browser=browser, title="Connect a device", code=code, error=error)


def _confirm_page(browser: Browser, user: UserView, pending: device_flow.PendingDevice) -> Response:
    return render("device_confirm.html", browser=browser, title="Allow this device?", user=user,
                  client_name=pending.client.name, client_id=pending.client.client_id,
                  code=device_flow.display(pending.user_code), raw_code=pending.user_code,
                  lines=scope_lines(list(pending.scope)))


async def _signed_in(request: Request) -> tuple[Provider, Browser, UserView] | Response:
    provider, browser, user = await signed_in(request)
    if browser is None or user is None:
        code = device_flow.normalise_user_code(request.query_params.get("user_code", ""))
        back = "/device" + (f"?user_code={code}" if code else "")
        return await run(lambda: start_account_sign_in(provider, request, return_to=back))
    return provider, browser, user


@router.get("/device", include_in_schema=False)
async def device_page(request: Request) -> Response:
    found = await _signed_in(request)
    if isinstance(found, Response):
        return found
    provider, browser, user = found
    typed = request.query_params.get("user_code", "")
    code = device_flow.normalise_user_code(typed)
    pending = await run(device_flow.find_pending, provider, code) if code else None
    if pending is not None:
        return _confirm_page(browser, user, pending)
    error = "That code is not valid or has expired. Check the code on your device." if typed else None
    return _entry_page(browser, code=typed[:16], error=error, status=400 if typed else 200)


async def _posted(request: Request) -> tuple[Provider, Browser, UserView, dict[str, str]] | Response:
    found = await _signed_in(request)
    if isinstance(found, Response):
        return found
    provider, browser, user = found
    try:
        params = await read_params(request, provider.settings.max_body_bytes, allow_json=False)
        check_csrf(browser, params.get("csrf_token"))
    except (CsrfError, InvalidRequest) as exc:
        return error_page(exc, browser=browser)
    return provider, browser, user, params


@router.post("/device", include_in_schema=False)
async def enter_code(request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    provider, browser, user, params = posted
    throttle = throttle_for(provider)
    key = "device-code|" + (events.current_request().ip or "-")  # §5.1: guessing codes is throttled
    decision = await throttle.ahit(IP, key)
    if not decision.allowed:
        response = _entry_page(browser, status=429, error="Too many wrong codes. Wait a moment, then try again.")
        response.headers["Retry-After"] = str(Throttled(decision.retry_after).retry_after)
        return response
    code = device_flow.normalise_user_code(params.get("user_code", ""))
    pending = await run(device_flow.find_pending, provider, code) if code else None
    if pending is None:
        return _entry_page(browser, code=params.get("user_code", "")[:16], status=400,
                           error="That code is not valid or has expired. Check the code on your device.")
    await throttle.arefund(IP, key)
    return _confirm_page(browser, user, pending)


@router.post("/device/confirm", include_in_schema=False)
async def confirm(request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    provider, browser, user, params = posted
    code = device_flow.normalise_user_code(params.get("user_code", ""))
    approve = params.get("decision") == "allow"
    decided = bool(code) and await run(lambda: device_flow.decide(
        provider, code or "", user, auth_time=browser.auth_time or 0, amr=browser.amr, approve=approve))
    if not decided:
        return _entry_page(browser, status=400, error="That request has expired or was already answered. Start "
                                                      "again on your device.")
    if approve:
        return render("message.html", browser=browser, title="Device connected",
                      message="You are signed in on your device. You can close this window.")
    return render("message.html", browser=browser, title="Request denied",
                  message="The device was not signed in. If you did not start this, you can ignore it.")
