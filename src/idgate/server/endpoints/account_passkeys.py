"""``/account/passkeys``: the signed-in user's passkeys (rules in :mod:`idgate.passkeys.service`).

    POST /account/passkeys/options      (script) registration options; a sign-in older than
                                        :data:`REAUTH_WINDOW` answers 403 with ``location``
                                        /account/reauth, where the user signs in again
    POST /account/passkeys              (script) the new credential -> {"location"} of its name page
    GET  /account/passkeys/{id}         name the passkey (after adding it, or to rename it)
    POST /account/passkeys/{id}/name    rename
    POST /account/passkeys/{id}/delete  remove (refused when it is the last way in, or the last
                                        second factor of a user whose role requires one)
    GET  /account/reauth                sign in again, then back to /account
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from idgate import clock
from idgate.errors import Conflict, IdgateError, InvalidRequest, NotFound
from idgate.mfa import service as mfa
from idgate.passkeys import service as passkeys
from idgate.provider import Provider
from idgate.server.deps import provider_of
from idgate.server.endpoints.account import account_form, account_page, signed_in
from idgate.server.interactions import start_account_sign_in
from idgate.server.pages import Browser, render, run
from idgate.server.passkey_http import check_script_request, json_error, json_reply, read_credential
from idgate.store.users import UserView

router = APIRouter(include_in_schema=False)
REAUTH_WINDOW = 300  # seconds: adding a passkey needs a sign-in at most this old (OWASP ASVS V6.2)


class SignInAgain(IdgateError):
    error = "login_required"
    status_code = 403
    description = "For your security, sign in again before adding a passkey."


def recent_sign_in(browser: Browser) -> bool:
    return browser.auth_time is not None and clock.now() - browser.auth_time <= REAUTH_WINDOW


async def _script_user(request: Request) -> tuple[Provider, Browser, UserView]:
    provider, browser, user = await signed_in(request)
    if browser is None or user is None:
        raise SignInAgain("Sign in first.", detail="no signed-in session")
    return provider, browser, user


@router.post("/account/passkeys/options")
async def registration_options(request: Request) -> Response:
    try:
        provider, browser, user = await _script_user(request)
        check_script_request(request, browser)
        if not recent_sign_in(browser):
            raise SignInAgain(detail="sign-in older than the re-authentication window")
        options = await run(passkeys.registration_options, provider, user.id, browser.id_hash)
    except SignInAgain as exc:
        return json_error(exc, location="/account/reauth")
    except IdgateError as exc:
        return json_error(exc)
    return json_reply(options)


@router.post("/account/passkeys")
async def register(request: Request) -> Response:
    try:
        provider, browser, user = await _script_user(request)
        body = await read_credential(request, browser)
        credential, name = body.get("credential"), body.get("name")
        if not isinstance(credential, dict) or not isinstance(name, str | None):
            raise InvalidRequest("Send {\"credential\": {...}, \"name\": \"...\"}.")
        if not recent_sign_in(browser):
            raise SignInAgain(detail="sign-in older than the re-authentication window")
        added = await run(lambda: passkeys.register(provider, user.id, browser.id_hash, credential, name or ""))
    except SignInAgain as exc:
        return json_error(exc, location="/account/reauth")
    except IdgateError as exc:
        return json_error(exc)
    return json_reply({"location": f"/account/passkeys/{added.id}?added=1", "id": added.id})


@router.get("/account/reauth")
async def reauth(request: Request) -> Response:
    return await run(lambda: start_account_sign_in(provider_of(request), request, reauth=True))


@router.get("/account/passkeys/{passkey_id}")
async def name_page(request: Request, passkey_id: str) -> Response:
    provider, browser, user = await signed_in(request)
    if browser is None or user is None:
        return await run(start_account_sign_in, provider, request)
    found = next((p for p in await run(passkeys.list_of, provider, user.id) if p.id == passkey_id), None)
    if found is None:
        return await account_page(provider, browser, user, status=404, passkey_error="That passkey is not on your "
                                                                                      "account.")
    added = request.query_params.get("added") == "1"
    return render("passkey_name.html", browser=browser, title="Name your passkey" if added else "Rename passkey",
                  passkey=found, added=added, action=f"/account/passkeys/{found.id}/name")


@router.post("/account/passkeys/{passkey_id}/name")
async def rename(request: Request, passkey_id: str) -> Response:
    async def handler(provider: Provider, browser: Browser, user: UserView, params: dict[str, str]) -> Response:
        try:
            renamed = await run(lambda: passkeys.rename(provider, user.id, passkey_id, params.get("name", ""),
                                                        actor=user.id))
        except NotFound as exc:
            return await account_page(provider, browser, user, status=404, passkey_error=exc.description)
        return await account_page(provider, browser, user, passkey_notice=f"Saved as “{renamed.name}”.")

    return await account_form(handler)(request)


@router.post("/account/passkeys/{passkey_id}/delete")
async def delete(request: Request, passkey_id: str) -> Response:
    async def handler(provider: Provider, browser: Browser, user: UserView, params: dict[str, str]) -> Response:
        required = (await run(mfa.status, provider, user.id)).required
        try:
            await run(lambda: passkeys.remove(provider, user.id, passkey_id, actor=user.id, required_mfa=required))
        except (NotFound, Conflict) as exc:
            return await account_page(provider, browser, user, status=exc.status_code, passkey_error=exc.description)
        return await account_page(provider, browser, user, passkey_notice="The passkey was removed. It no longer "
                                                                          "signs in to this account.")

    return await account_form(handler)(request)
