"""Passkey rules as plain functions, shared by the sign-in pages, the account page, the admin
API and the CLI (WebAuthn Level 3 §7; RFC 8176 for ``amr``).

* Registration needs a signed-in user (the pages also ask for a recent sign-in); the new
  passkey is discoverable and user-verifying, so it signs in alone and is a second factor too.
* Passwordless sign-in names no account: the browser offers whichever passkey the user picks,
  the credential id finds its owner. An unknown credential, a disabled user and every failed
  check get the same answer.
* A sign counter that does not grow (when either side is non-zero, §6.1.1) after a good
  signature means the key may have been cloned: refused, and ``passkey.counter_regressed`` is
  recorded for the operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from idgate import clock, events
from idgate.errors import Conflict, InvalidRequest, NotFound
from idgate.ids import jti
from idgate.store import passkeys as repo
from idgate.store import users
from idgate.store.db import transaction
from idgate.store.models_passkeys import Passkey
from idgate.store.models_security import TotpFactor

from . import challenges
from .errors import PasskeyRefused
from .relying_party import RelyingParty, challenge_of, credential_id_of

if TYPE_CHECKING:
    from idgate.provider import Provider

MAX_PASSKEYS = 20  # per user
MAX_NAME = 64


@dataclass(frozen=True)
class PasskeyInfo:
    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    synced: bool  # backup eligible (BE): a passkey a provider syncs between devices
    backed_up: bool  # backup state (BS) as last seen
    aaguid: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "created_at": self.created_at.isoformat(),
                "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
                "synced": self.synced, "backed_up": self.backed_up, "aaguid": self.aaguid}


@dataclass(frozen=True)
class PasskeySignIn:
    user_id: str
    passkey_id: str
    amr: tuple[str, ...]


def _info(row: Passkey) -> PasskeyInfo:
    return PasskeyInfo(id=row.id, name=row.name, created_at=row.created_at, last_used_at=row.last_used_at,
                       synced=row.backup_eligible, backed_up=row.backed_up, aaguid=row.aaguid)


def relying_party(provider: Provider) -> RelyingParty:
    s = provider.settings
    return RelyingParty.for_issuer(s.issuer, s.mfa_issuer_label, s.passkey_aaguids)


def clean_name(name: str, fallback: str) -> str:
    text = " ".join((name or "").split())[:MAX_NAME]
    return text or fallback


def key_amr(synced: bool) -> str:
    """RFC 8176 §2: ``swk`` for a key a sync provider holds in software, ``hwk`` for one bound
    to a device's authenticator."""
    return "swk" if synced else "hwk"


# --- Registration -------------------------------------------------------------------------

def registration_options(provider: Provider, user_id: str, session_hash: str) -> str:
    with transaction(provider.sessions) as session:
        user = users.get(session, user_id)
        if user is None or user.disabled:
            raise NotFound(detail="no such user")
        existing = repo.of_user(session, user_id)
        if len(existing) >= MAX_PASSKEYS:
            raise Conflict(f"You already have {MAX_PASSKEYS} passkeys. Remove one to add another.")
        username, display = user.username, user.name or user.username
        exclude = [p.credential_id for p in existing]
    challenge = challenges.issue(provider.sessions, challenges.REGISTER, session_hash, user_id=user_id)
    return relying_party(provider).registration_options(
        user_handle=user_id.encode(), username=username, display_name=display, challenge=challenge, exclude=exclude)


def register(provider: Provider, user_id: str, session_hash: str, credential: dict[str, Any],
             name: str = "") -> PasskeyInfo:
    """§7.1: verify the new credential for this user's challenge and store it."""
    challenge = challenges.take(provider.sessions, challenge_of(credential), challenges.REGISTER, session_hash,
                                user_id=user_id)
    try:
        new = relying_party(provider).verify_registration(credential, challenge)
    except PasskeyRefused as exc:
        events.record(provider.sessions, "passkey.registered", "refused", actor=user_id, reason=exc.reason)
        raise
    now = clock.utcnow()
    try:
        with transaction(provider.sessions) as session:
            count = repo.count_of_user(session, user_id)
            row = Passkey(id="pk_" + jti()[:16], user_id=user_id, credential_id=new.credential_id,
                          public_key=new.public_key, sign_count=new.sign_count, aaguid=new.aaguid,
                          transports=" ".join(new.transports), backup_eligible=new.backup_eligible,
                          backed_up=new.backed_up, name=clean_name(name, f"Passkey {count + 1}"), created_at=now)
            session.add(row)
            session.flush()
            events.record(None, "passkey.registered", "success", session=session, actor=user_id, key_id=row.id,
                          synced=row.backup_eligible, aaguid=row.aaguid)
            return _info(row)
    except IntegrityError:  # §7.1 step 25: a credential id registered already (by anyone)
        events.record(provider.sessions, "passkey.registered", "refused", actor=user_id, reason="credential_in_use")
        raise PasskeyRefused("credential_in_use", "This passkey is already registered.") from None


# --- Authentication -----------------------------------------------------------------------

def authentication_options(provider: Provider, session_hash: str, interaction_hash: str, *,
                           user_id: str | None = None) -> str:
    """Passwordless (no ``user_id``): any discoverable passkey, user verification required.
    Second factor (the user whose password was just right): that user's passkeys."""
    allow = None
    if user_id is not None:
        with transaction(provider.sessions) as session:
            allow = [(p.credential_id, tuple(p.transports.split())) for p in repo.of_user(session, user_id)]
        if not allow:
            raise InvalidRequest("There is no passkey on this account.")
    purpose = challenges.PASSWORDLESS if user_id is None else challenges.SECOND_FACTOR
    challenge = challenges.issue(provider.sessions, purpose, session_hash, interaction_hash=interaction_hash,
                                 user_id=user_id)
    return relying_party(provider).authentication_options(challenge=challenge, allow=allow,
                                                          user_verification=user_id is None)


def authenticate(provider: Provider, session_hash: str, interaction_hash: str, credential: dict[str, Any], *,
                 user_id: str | None = None) -> PasskeySignIn:
    """§7.2 for a passwordless sign-in (``user_id`` None) or the second factor of ``user_id``.
    Raises :class:`PasskeyRefused` (its ``reason`` says why) or its subclasses."""
    purpose = challenges.PASSWORDLESS if user_id is None else challenges.SECOND_FACTOR
    challenge = challenges.take(provider.sessions, challenge_of(credential), purpose, session_hash,
                                interaction_hash=interaction_hash, user_id=user_id)
    credential_id = credential_id_of(credential)
    with transaction(provider.sessions) as session:
        row = repo.by_credential_id(session, credential_id)
        owner = users.get(session, row.user_id) if row is not None else None
        if row is not None:
            session.expunge(row)
        disabled = owner is None or owner.disabled
    if row is None or (user_id is not None and row.user_id != user_id):
        raise PasskeyRefused("unknown_credential")
    handle = (credential.get("response") or {}).get("userHandle")
    if handle and handle != _b64(row.user_id.encode()):  # §7.2 step 6: the handle names the owner
        raise PasskeyRefused("user_handle_mismatch")
    assertion = relying_party(provider).verify_authentication(credential, challenge, row.public_key,
                                                              require_user_verification=user_id is None)
    if disabled:
        raise PasskeyRefused("disabled")
    if (assertion.sign_count or row.sign_count) and assertion.sign_count <= row.sign_count:
        events.record(provider.sessions, "passkey.counter_regressed", "refused", actor=row.user_id, key_id=row.id,
                      stored=row.sign_count, presented=assertion.sign_count)
        raise PasskeyRefused("counter_regressed", detail=f"counter {assertion.sign_count} <= {row.sign_count}")
    with transaction(provider.sessions) as session:
        stored = session.get(Passkey, row.id)
        if stored is None:  # removed while the ceremony ran
            raise PasskeyRefused("unknown_credential")
        stored.sign_count, stored.backed_up, stored.last_used_at = assertion.sign_count, assertion.backed_up, \
            clock.utcnow()
    key = key_amr(row.backup_eligible)
    # RFC 8176: possession of the key, user presence; with user verification (PIN or
    # biometrics on the authenticator) a passkey alone is two factors.
    if user_id is None:
        amr: tuple[str, ...] = (key, "user", "mfa") if assertion.user_verified else (key, "user")
    else:
        amr = ("pwd", key, "user", "mfa")
    return PasskeySignIn(row.user_id, row.id, amr)


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- Management ---------------------------------------------------------------------------

def list_of(provider: Provider, user_id: str) -> list[PasskeyInfo]:
    with transaction(provider.sessions) as session:
        return [_info(p) for p in repo.of_user(session, user_id)]


def has_passkey(provider: Provider, user_id: str) -> bool:
    with transaction(provider.sessions) as session:
        return repo.count_of_user(session, user_id) > 0


def rename(provider: Provider, user_id: str, passkey_id: str, name: str, *, actor: str) -> PasskeyInfo:
    with transaction(provider.sessions) as session:
        row = repo.get(session, user_id, passkey_id)
        if row is None:
            raise NotFound("No such passkey.")
        row.name = clean_name(name, row.name)
        events.record(None, "passkey.renamed", "success", session=session, actor=actor, subject=user_id,
                      key_id=row.id)
        return _info(row)


class LastWayIn(Conflict):
    status_code = 409
    description = "This is your last way to sign in, so it cannot be removed."


def remove(provider: Provider, user_id: str, passkey_id: str, *, actor: str, required_mfa: bool,
           by_admin: bool = False) -> None:
    """Remove a passkey. The user's own removal is refused (:class:`LastWayIn`) when it would
    leave no way in, or - ``required_mfa``, a role demands a second factor - no second factor.
    An admin revokes regardless (a lost or stolen device); they can set a password after."""
    refusal = None
    with transaction(provider.sessions) as session:
        row = repo.get(session, user_id, passkey_id)
        user = users.get(session, user_id)
        if row is None or user is None:
            raise NotFound("No such passkey.")
        others = repo.count_of_user(session, user_id) - 1
        totp = session.get(TotpFactor, user_id)
        has_totp = totp is not None and totp.confirmed_at is not None
        if not by_admin and not others and not user.password_hash:
            refusal = ("last_way_in", "This is the only way to sign in to this account: add another passkey first.")
        elif not by_admin and required_mfa and not others and not has_totp:
            refusal = ("required_by_role", "Your role requires two-step verification and this passkey is your only "
                       "second factor: add another passkey or an authenticator app first.")
        else:
            session.delete(row)
            events.record(None, "passkey.removed", "success", session=session, actor=actor, subject=user_id,
                          key_id=passkey_id)
    if refusal is not None:
        events.record(provider.sessions, "passkey.removed", "refused", actor=actor, subject=user_id,
                      key_id=passkey_id, reason=refusal[0])
        raise LastWayIn(refusal[1])


def user_id_of(provider: Provider, username: str) -> str:
    with transaction(provider.sessions) as session:
        return users.require_by_username(session, username).id


def list_for(provider: Provider, username: str) -> list[PasskeyInfo]:
    """An admin's view of a user's passkeys (never the keys themselves)."""
    return list_of(provider, user_id_of(provider, username))


def revoke(provider: Provider, username: str, passkey_id: str, *, actor: str) -> None:
    """An admin removes a user's passkey (recorded with the admin as actor)."""
    remove(provider, user_id_of(provider, username), passkey_id, actor=actor, required_mfa=False, by_admin=True)
