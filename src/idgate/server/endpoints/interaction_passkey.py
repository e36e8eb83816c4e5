"""``/interaction/{id}/passkey/*``: signing in with a passkey (WebAuthn Level 3 §7.2), from
the sign-in page's script (``/static/passkey.js``). Rules in :mod:`idgate.passkeys.service`.

    POST /interaction/{id}/passkey/sign-in/options        passwordless: options, no account named
    POST /interaction/{id}/passkey/sign-in                the assertion -> signed in, {"location"}
    POST /interaction/{id}/passkey/second-factor/options  after a right password: that user's passkeys
    POST /interaction/{id}/passkey/second-factor          the assertion -> signed in (amr pwd hwk mfa)

Each needs the interaction's browser session and its CSRF token (header ``X-CSRF-Token``).
The challenge is bound to both, so a response made for another browser or sign-in is refused.
Success answers ``{"location": "/interaction/{id}"}`` with the new session cookie; the
script goes there and the interaction carries on (consent, the code) as after a password.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from idgate import clock, events, ids
from idgate.errors import IdgateError, InvalidRequest
from idgate.passkeys import service as passkeys
from idgate.passkeys.errors import PasskeyRefused
from idgate.passkeys.guard import guarded
from idgate.server.deps import provider_of
from idgate.server.interactions import find_interaction, update_interaction
from idgate.server.pages import load_browser, run, sign_in
from idgate.server.passkey_http import check_script_request, json_error, json_reply, read_credential
from idgate.services import interaction_mfa as steps
from idgate.services.interaction_flow import load_user
from idgate.store.models_oauth import Interaction

router = APIRouter(include_in_schema=False)
_MODES = {"sign-in": False, "second-factor": True}


def _mode(mode: str) -> bool:
    if mode not in _MODES:
        raise InvalidRequest("Unknown passkey step.")
    return _MODES[mode]


def _second_factor_user(row: Interaction) -> str:
    """Whose second factor this is: the user whose password was right in this very interaction."""
    if steps.step_of(row) != steps.OTP or row.pending_user_id is None:
        raise steps.StepUnavailable(detail="passkey second factor without a right password in this interaction")
    return row.pending_user_id


@router.post("/interaction/{interaction_id}/passkey/{mode}/options")
async def passkey_options(request: Request, interaction_id: str, mode: str) -> Response:
    provider = provider_of(request)
    browser = await run(load_browser, provider, request)
    try:
        second = _mode(mode)
        check_script_request(request, browser)
        row = await run(find_interaction, provider, browser, interaction_id)
        assert browser is not None  # find_interaction refuses a request without a session
        user_id = _second_factor_user(row) if second else None
        options = await run(lambda: passkeys.authentication_options(
            provider, browser.id_hash, ids.token_hash(interaction_id), user_id=user_id))
    except IdgateError as exc:
        return json_error(exc)
    return json_reply(options)


@router.post("/interaction/{interaction_id}/passkey/{mode}")
async def passkey_sign_in(request: Request, interaction_id: str, mode: str) -> Response:
    provider = provider_of(request)
    browser = await run(load_browser, provider, request)
    try:
        second = _mode(mode)
        credential = (await read_credential(request, browser)).get("credential")
        if not isinstance(credential, dict):
            raise InvalidRequest("Send the passkey response as {\"credential\": {...}}.")
        row = await run(find_interaction, provider, browser, interaction_id)
        assert browser is not None
        user_id = _second_factor_user(row) if second else None
        outcome = await guarded(provider, events.current_request().ip, lambda: passkeys.authenticate(
            provider, browser.id_hash, ids.token_hash(interaction_id), credential, user_id=user_id))
    except PasskeyRefused as exc:
        await events.arecord(provider.sessions, "login.failure", "failure", method="passkey", reason=exc.reason)
        return json_error(exc)
    except IdgateError as exc:
        return json_error(exc)
    if await run(load_user, provider, outcome.user_id) is None:
        return json_error(PasskeyRefused("disabled"))
    await events.arecord(provider.sessions, "login.success", "success", actor=outcome.user_id, method="passkey",
                         key_id=outcome.passkey_id, amr=list(outcome.amr))
    fresh = await run(sign_in, provider, request, browser, outcome.user_id, clock.now(), " ".join(outcome.amr))
    await run(lambda: update_interaction(provider, interaction_id, login_done=True, pending_user_id=None,
                                         pending_since=None, pending_step=None))
    return json_reply({"location": f"/interaction/{interaction_id}"}, browser=fresh)
