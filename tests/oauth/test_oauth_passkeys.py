"""Passkey ceremonies without a browser (issue 13): the rules of idgate.passkeys.service on
SQLite and PostgreSQL, fed with real responses from a software authenticator
(tests/passkey_authenticator.py) that each test breaks in one way. Every refusal is a
PasskeyRefused with its reason (never a 500, never a secret in the event log)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy import inspect as sa_inspect

from idgate import clock
from idgate.errors import Conflict, NotFound
from idgate.events.queries import search
from idgate.passkeys import service as passkeys
from idgate.passkeys.errors import ChallengeUnavailable, MalformedPasskeyResponse, PasskeyRefused
from idgate.provider import Provider
from idgate.store.db import transaction
from idgate.store.models_passkeys import Passkey, WebauthnChallenge
from idgate.store.users import find_by_username

from passkey_authenticator import UP, UV, AT, SoftAuthenticator, b64u, unb64u

ORIGIN = "https://localhost:8443"
SESSION, OTHER_SESSION = "s" * 64, "t" * 64
SIGN_IN, OTHER_SIGN_IN = "i" * 64, "j" * 64


def _alice(provider: Provider) -> str:
    with transaction(provider.sessions) as session:
        return find_by_username(session, "alice").id  # type: ignore[union-attr]


def _registered(provider: Provider, authenticator: SoftAuthenticator | None = None) -> SoftAuthenticator:
    authenticator = authenticator or SoftAuthenticator(ORIGIN)
    user_id = _alice(provider)
    options = passkeys.registration_options(provider, user_id, SESSION)
    passkeys.register(provider, user_id, SESSION, authenticator.create(options), "Laptop")
    return authenticator


def _sign_in(provider: Provider, authenticator: SoftAuthenticator, **broken: object) -> passkeys.PasskeySignIn:
    options = passkeys.authentication_options(provider, SESSION, SIGN_IN)
    return passkeys.authenticate(provider, SESSION, SIGN_IN, authenticator.get(options, **broken))  # type: ignore[arg-type]


def _events(provider: Provider, **filters: str) -> list[dict]:  # type: ignore[type-arg]
    return [e.as_dict() for e in search(provider.sessions, **filters)]  # type: ignore[arg-type]


def _refusal(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(PasskeyRefused) as caught:
        call()
    assert 400 <= caught.value.status_code < 500
    return caught.value.reason


def test_register_then_sign_in_alone(provider: Provider) -> None:
    user_id = _alice(provider)
    options = json.loads(passkeys.registration_options(provider, user_id, SESSION))
    # Discoverable, user-verifying, attestation none, the issuer's host as RP ID, no PII as handle.
    assert options["rp"]["id"] == "localhost" and options["attestation"] == "none"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert unb64u(options["user"]["id"]) == user_id.encode() and len(unb64u(options["challenge"])) == 32
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7, -8, -257]
    authenticator = SoftAuthenticator(ORIGIN)
    added = passkeys.register(provider, user_id, SESSION, authenticator.create(options), "  Work   laptop ")
    assert added.name == "Work laptop" and not added.synced and added.last_used_at is None

    request = json.loads(passkeys.authentication_options(provider, SESSION, SIGN_IN))
    assert request["allowCredentials"] == [] and request["userVerification"] == "required"  # names no account
    outcome = passkeys.authenticate(provider, SESSION, SIGN_IN, authenticator.get(request))
    assert outcome.user_id == user_id and outcome.amr == ("hwk", "user", "mfa")
    [listed] = passkeys.list_of(provider, user_id)
    assert listed.last_used_at is not None
    with transaction(provider.sessions) as session:
        assert session.scalar(select(Passkey.sign_count)) == 1
        assert session.scalar(select(WebauthnChallenge.challenge_hash)) is None  # both challenges used up
    kinds = [e["kind"] for e in _events(provider, actor=user_id)]
    assert "passkey.registered" in kinds


def test_synced_passkey_with_a_zero_counter_is_swk(provider: Provider) -> None:
    authenticator = _registered(provider, SoftAuthenticator(ORIGIN, backup_eligible=True, counting=False))
    for _ in range(2):  # a synced passkey's counter stays 0 (WebAuthn §6.1.1): not a clone
        assert _sign_in(provider, authenticator).amr == ("swk", "user", "mfa")
    [listed] = passkeys.list_of(provider, _alice(provider))
    assert listed.synced and listed.backed_up


@pytest.mark.parametrize("broken, reason", [
    ({"origin": "https://evil.example"}, "wrong_origin"),
    ({"origin": "https://localhost:9443"}, "wrong_origin"),  # origins are compared exactly
    ({"rp_id": "evil.example"}, "wrong_rp_id"),
    ({"kind": "webauthn.get"}, "wrong_type"),
    ({"flags": UV | AT}, "user_not_present"),
    ({"flags": UP | AT}, "user_not_verified"),
])
def test_bad_registrations_are_refused(provider: Provider, broken: dict, reason: str) -> None:  # type: ignore[type-arg]
    user_id = _alice(provider)
    options = passkeys.registration_options(provider, user_id, SESSION)
    response = SoftAuthenticator(ORIGIN).create(options, **broken)  # type: ignore[arg-type]
    assert _refusal(lambda: passkeys.register(provider, user_id, SESSION, response)) == reason
    assert passkeys.list_of(provider, user_id) == []


def _truncate(response: dict, field: str, keep: int = 20) -> dict:  # type: ignore[type-arg]
    raw = unb64u(response["response"][field])
    response["response"][field] = b64u(raw[:keep])
    return response


@pytest.mark.parametrize("damage", [
    lambda r: _truncate(r, "attestationObject"),
    lambda r: _truncate(r, "attestationObject", 60),
    lambda r: r["response"].update(attestationObject=b64u(b"\xff\x00 not cbor")),
    lambda r: r["response"].update(attestationObject="!!not base64url!!"),
    lambda r: r["response"].pop("attestationObject"),
    lambda r: r.update(response="a string"),
    lambda r: r.update(rawId=b64u(b"another id")),
])
def test_malformed_registrations_are_refused(provider: Provider, damage) -> None:  # type: ignore[no-untyped-def]
    user_id = _alice(provider)
    options = passkeys.registration_options(provider, user_id, SESSION)
    response = SoftAuthenticator(ORIGIN).create(options)
    damage(response)
    with pytest.raises(PasskeyRefused) as caught:
        passkeys.register(provider, user_id, SESSION, response)
    assert caught.value.status_code in (400, 401)


def test_unreadable_client_data_is_malformed(provider: Provider) -> None:
    user_id = _alice(provider)
    response = SoftAuthenticator(ORIGIN).create(passkeys.registration_options(provider, user_id, SESSION))
    for bad in (b64u(b'{"type": "webauthn.create", "chall'), "###", b64u(b"[]")):
        response["response"]["clientDataJSON"] = bad
        with pytest.raises(MalformedPasskeyResponse):
            passkeys.register(provider, user_id, SESSION, response)


def test_a_challenge_is_single_use_bound_and_expires(provider: Provider) -> None:
    user_id = _alice(provider)
    authenticator = SoftAuthenticator(ORIGIN)
    response = authenticator.create(passkeys.registration_options(provider, user_id, SESSION))
    passkeys.register(provider, user_id, SESSION, response)
    with pytest.raises(ChallengeUnavailable):  # the same response again: its challenge is gone
        passkeys.register(provider, user_id, SESSION, response)
    # Issued to another browser session, or another sign-in, or for registration: refused.
    other = authenticator.create(passkeys.registration_options(provider, user_id, OTHER_SESSION))
    with pytest.raises(ChallengeUnavailable):
        passkeys.register(provider, user_id, SESSION, other)
    request = passkeys.authentication_options(provider, SESSION, OTHER_SIGN_IN)
    with pytest.raises(ChallengeUnavailable):
        passkeys.authenticate(provider, SESSION, SIGN_IN, authenticator.get(request))
    # Expired: five minutes after it was issued.
    request = passkeys.authentication_options(provider, SESSION, SIGN_IN)
    with transaction(provider.sessions) as session:
        session.execute(update(WebauthnChallenge).values(expires_at=clock.utcnow() - timedelta(seconds=1)))
    with pytest.raises(ChallengeUnavailable):
        passkeys.authenticate(provider, SESSION, SIGN_IN, authenticator.get(request))


def test_a_credential_is_registered_once(provider: Provider) -> None:
    user_id = _alice(provider)
    authenticator = _registered(provider)
    options = passkeys.registration_options(provider, user_id, SESSION)
    assert json.loads(options)["excludeCredentials"][0]["id"] == b64u(authenticator.keys[0].credential_id)
    again = authenticator.create(options, key=authenticator.keys[0])  # an authenticator that ignores it
    assert _refusal(lambda: passkeys.register(provider, user_id, SESSION, again)) == "credential_in_use"
    assert len(passkeys.list_of(provider, user_id)) == 1


@pytest.mark.parametrize("broken, reason", [
    ({"origin": "https://evil.example"}, "wrong_origin"),
    ({"rp_id": "evil.example"}, "wrong_rp_id"),
    ({"kind": "webauthn.create"}, "wrong_type"),
    ({"flags": UV}, "user_not_present"),
    ({"flags": UP}, "user_not_verified"),  # passwordless needs user verification
    ({"user_handle": b"u_someone_else"}, "user_handle_mismatch"),
])
def test_bad_assertions_are_refused(provider: Provider, broken: dict, reason: str) -> None:  # type: ignore[type-arg]
    authenticator = _registered(provider)
    assert _refusal(lambda: _sign_in(provider, authenticator, **broken)) == reason


def test_bad_signature_unknown_credential_and_malformed_assertions(provider: Provider) -> None:
    authenticator = _registered(provider)
    options = passkeys.authentication_options(provider, SESSION, SIGN_IN)
    response = authenticator.get(options)
    signature = bytearray(unb64u(response["response"]["signature"]))
    signature[-1] ^= 1
    response["response"]["signature"] = b64u(bytes(signature))
    assert _refusal(lambda: passkeys.authenticate(provider, SESSION, SIGN_IN, response)) == "bad_signature"

    stranger = SoftAuthenticator(ORIGIN)  # a key for this site that idgate never registered
    stranger.create({"rp": {"id": "localhost"}, "user": {"id": b64u(b"u_x")}, "challenge": b64u(b"0" * 32)})
    assert _refusal(lambda: _sign_in(provider, stranger)) == "unknown_credential"

    for damage in (lambda r: _truncate(r, "authenticatorData", 30), lambda r: r["response"].pop("signature"),
                   lambda r: r.update(rawId="***"), lambda r: r.update(type="password")):
        response = authenticator.get(passkeys.authentication_options(provider, SESSION, SIGN_IN))
        damage(response)
        with pytest.raises(PasskeyRefused) as caught:
            passkeys.authenticate(provider, SESSION, SIGN_IN, response)
        assert caught.value.status_code in (400, 401)


def test_a_counter_that_goes_backwards_is_refused_and_recorded(provider: Provider) -> None:
    authenticator = _registered(provider)
    _sign_in(provider, authenticator, counter=7)
    assert _refusal(lambda: _sign_in(provider, authenticator, counter=7)) == "counter_regressed"
    assert _refusal(lambda: _sign_in(provider, authenticator, counter=3)) == "counter_regressed"
    assert _sign_in(provider, authenticator, counter=8).user_id == _alice(provider)
    events = _events(provider, kind="passkey.counter_regressed")
    assert len(events) == 2 and events[0]["detail"]["stored"] == 7


def test_second_factor_takes_only_that_users_passkeys(provider: Provider) -> None:
    from idgate.services import accounts

    from support import GOOD_PASSWORD

    authenticator = _registered(provider)
    user_id = _alice(provider)
    bob = accounts.add_user(provider.sessions, "bob", GOOD_PASSWORD + " bob")
    request = json.loads(passkeys.authentication_options(provider, SESSION, SIGN_IN, user_id=user_id))
    assert [c["id"] for c in request["allowCredentials"]] == [b64u(authenticator.keys[0].credential_id)]
    assert request["userVerification"] == "preferred"
    outcome = passkeys.authenticate(provider, SESSION, SIGN_IN, authenticator.get(request, flags=UP), user_id=user_id)
    assert outcome.amr == ("pwd", "hwk", "user", "mfa")
    # Alice's passkey is no second factor for bob's password.
    with pytest.raises(Exception):
        passkeys.authentication_options(provider, SESSION, SIGN_IN, user_id=bob.id)  # bob has none
    request = passkeys.authentication_options(provider, SESSION, SIGN_IN, user_id=user_id)
    with pytest.raises(ChallengeUnavailable):  # a challenge issued for alice's step, claimed for bob
        passkeys.authenticate(provider, SESSION, SIGN_IN, authenticator.get(request), user_id=bob.id)


def test_a_disabled_user_cannot_sign_in_with_a_passkey(provider: Provider) -> None:
    from idgate.services import accounts

    authenticator = _registered(provider)
    accounts.set_disabled(provider.sessions, "alice", True)
    assert _refusal(lambda: _sign_in(provider, authenticator)) == "disabled"


def test_aaguid_allow_list(provider: Provider) -> None:
    from dataclasses import replace

    user_id = _alice(provider)
    provider.settings = replace(provider.settings, passkey_aaguids=("cb69481e-8ff7-4039-93ec-0a2729a154a8",))
    options = json.loads(passkeys.registration_options(provider, user_id, SESSION))
    assert options["attestation"] == "direct"
    response = SoftAuthenticator(ORIGIN).create(options)
    assert _refusal(lambda: passkeys.register(provider, user_id, SESSION, response)) == "aaguid_not_allowed"
    provider.settings = replace(provider.settings, passkey_aaguids=("1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809",))
    passkeys.register(provider, user_id, SESSION,
                      SoftAuthenticator(ORIGIN).create(passkeys.registration_options(provider, user_id, SESSION)))


def test_rename_remove_and_the_last_second_factor(provider: Provider) -> None:
    user_id = _alice(provider)
    _registered(provider)
    [key] = passkeys.list_of(provider, user_id)
    assert passkeys.rename(provider, user_id, key.id, "Phone", actor=user_id).name == "Phone"
    with pytest.raises(NotFound):
        passkeys.rename(provider, "u_other", key.id, "x", actor="u_other")  # not bob's to rename
    # A role requires a second factor and this passkey is the only one: refused.
    with pytest.raises(Conflict) as caught:
        passkeys.remove(provider, user_id, key.id, actor=user_id, required_mfa=True)
    assert "only second factor" in caught.value.description
    passkeys.remove(provider, user_id, key.id, actor=user_id, required_mfa=False)
    assert passkeys.list_of(provider, user_id) == []
    kinds = [(e["kind"], e["outcome"]) for e in _events(provider, actor=user_id)]
    assert ("passkey.removed", "refused") in kinds and ("passkey.removed", "success") in kinds
    assert ("passkey.renamed", "success") in kinds


def test_admin_revokes_regardless_and_the_tables_match_the_models(provider: Provider) -> None:
    user_id = _alice(provider)
    _registered(provider)
    [key] = passkeys.list_for(provider, "alice")
    passkeys.revoke(provider, "alice", key.id, actor="cli:root")
    assert passkeys.list_of(provider, user_id) == []
    [event] = _events(provider, kind="passkey.removed")
    assert event["actor"] == "cli:root" and event["detail"]["subject"] == user_id
    with pytest.raises(NotFound):
        passkeys.revoke(provider, "alice", key.id, actor="cli:root")

    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from idgate.store.models import Base

    assert {"passkeys", "webauthn_challenges"} <= set(sa_inspect(provider.engine).get_table_names())
    with provider.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    mine = [d for d in diffs if "passkeys" in repr(d) or "webauthn" in repr(d) or "require_passkey" in repr(d)]
    assert mine == []


def test_options_expire_old_challenges_and_cap_each_session(provider: Provider) -> None:
    for _ in range(20):
        passkeys.authentication_options(provider, SESSION, SIGN_IN)
    with transaction(provider.sessions) as session:
        count = len(session.scalars(select(WebauthnChallenge.challenge_hash)).all())
    assert count == 8  # store.passkeys.MAX_CHALLENGES_PER_SESSION: a loop of requests fills nothing


def test_events_never_carry_key_material(provider: Provider) -> None:
    authenticator = _registered(provider)
    _sign_in(provider, authenticator)
    dump = json.dumps(_events(provider))
    key = authenticator.keys[0]
    assert b64u(key.credential_id) not in dump and base64.b64encode(key.credential_id).decode() not in dump
