"""Second-factor rules as plain functions, shared by ``/login``, the MFA API, the admin API and
the CLI. Each takes the provider (for its database and key-encryption key) and plain values."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from idgate.clock import utcnow
from idgate.errors import Conflict, InvalidRequest, NotFound
from idgate import events
from idgate.store import users
from idgate.store.db import transaction
from idgate.store.models_security import RecoveryCode, TotpFactor

from . import crypto, totp
from .errors import InvalidOtp, MfaRequiredByRole
from .roles import roles_requiring_mfa, set_role_requires_mfa  # noqa: F401 - part of this module's API

if TYPE_CHECKING:
    from idgate.config.schema import Settings
    from idgate.provider import Provider
    from idgate.store.users import LoginFacts
    from idgate.throttle import Throttle

RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # base32, lower case: 5 bits a character
_RECOVERY_CHARS = 16  # 80 bits


@dataclass(frozen=True)
class Enrolment:
    secret: str  # base32, for typing into an app that cannot scan; shown once
    uri: str
    qr_svg: str
    confirmed: bool
    recovery_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class MfaStatus:
    totp: str  # "none", "pending" (enrolled, not confirmed) or "active"
    recovery_codes_left: int
    required: bool  # a role of the user requires a second factor

    def as_dict(self) -> dict[str, object]:
        return {"totp": self.totp, "recovery_codes_left": self.recovery_codes_left, "required": self.required}


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_CHARS))
    return "-".join(raw[i:i + 4] for i in range(0, _RECOVERY_CHARS, 4))


def normalise_recovery_code(code: str) -> str | None:
    raw = code.strip().lower().replace("-", "").replace(" ", "")
    if len(raw) != _RECOVERY_CHARS or not set(raw) <= set(_RECOVERY_ALPHABET):
        return None
    return "-".join(raw[i:i + 4] for i in range(0, _RECOVERY_CHARS, 4))


def _replace_recovery_codes(session: Session, kek: bytes, user_id: str) -> tuple[str, ...]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = tuple(_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT))
    for code in codes:
        session.add(RecoveryCode(user_id=user_id, code_hash=crypto.code_hash(kek, user_id, code)))
    return codes


def _user_id(session: Session, username: str) -> str:
    return users.require_by_username(session, username).id


def user_id_of(provider: Provider, username: str) -> str:
    with transaction(provider.sessions) as session:
        return _user_id(session, username)


def enroll_totp(provider: Provider, user_id: str, *, confirmed: bool = False, replace: bool = False,
                actor: str | None = None) -> Enrolment:
    """A new TOTP secret for the user. Pending until a first code confirms it, unless
    ``confirmed`` (an administrator enrolling on the user's behalf: recovery codes come at once).
    An active factor is only replaced with ``replace``."""
    with transaction(provider.sessions) as session:
        user = users.get(session, user_id)
        if user is None:
            raise NotFound("No such user.")
        row = session.get(TotpFactor, user_id)
        if row is not None and row.confirmed_at is not None and not replace:
            raise Conflict("A TOTP authenticator is already active; remove it first (this needs a current code).")
        secret = totp.new_secret()
        sealed = crypto.seal(provider.kek, secret, user_id)
        if row is None:
            row = TotpFactor(user_id=user_id, secret_enc=sealed)
            session.add(row)
        else:
            row.secret_enc, row.last_used_step, row.created_at = sealed, None, utcnow()
        row.confirmed_at = utcnow() if confirmed else None
        codes = _replace_recovery_codes(session, provider.kek, user_id) if confirmed else ()
        uri = totp.provisioning_uri(secret, user.username, provider.settings.mfa_issuer_label)
        events.record(None, "mfa.totp.enrolled", "success", actor=actor or user_id, session=session,
                      subject=user_id, confirmed=confirmed)
    return Enrolment(secret=secret, uri=uri, qr_svg=totp.qr_svg(uri), confirmed=confirmed, recovery_codes=codes)


def _consume_step(session: Session, user_id: str, step: int) -> bool:
    result = session.execute(
        update(TotpFactor)
        .where(TotpFactor.user_id == user_id,
               (TotpFactor.last_used_step.is_(None)) | (TotpFactor.last_used_step < step))
        .values(last_used_step=step))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def confirm_totp(provider: Provider, user_id: str, code: str, *, now: float | None = None) -> tuple[str, ...]:
    """Activate a pending enrolment with a first code; returns the ten recovery codes (shown once)."""
    from idgate.throttle import MFA

    now = time.time() if now is None else now
    throttle = _admit(provider, user_id)  # a wrong first code counts like any wrong one-time code
    with transaction(provider.sessions) as session:
        row = session.get(TotpFactor, user_id)
        if row is None or row.confirmed_at is not None:
            throttle.refund(MFA, user_id)
            raise InvalidRequest("There is no pending TOTP enrolment to confirm; start one first.")
        secret = crypto.open_sealed(provider.kek, row.secret_enc, user_id)
        step, _replay = totp.match(secret or "", code.strip(), now, row.last_used_step) if secret else (None, False)
        ok = step is not None and _consume_step(session, user_id, step)
        if ok:
            row.confirmed_at = utcnow()
            codes = _replace_recovery_codes(session, provider.kek, user_id)
            events.record(None, "mfa.totp.confirmed", "success", actor=user_id, session=session)
    if not ok:
        events.record(provider.sessions, "mfa.totp.confirm", "failure", actor=user_id, reason="wrong_code")
        raise InvalidOtp()
    throttle.reset(MFA, user_id)
    return codes


def pending_enrolment(provider: Provider, user_id: str) -> Enrolment | None:
    """The user's enrolment that waits for its first code (to show its QR code and secret
    again to that user), or None when there is none."""
    with transaction(provider.sessions) as session:
        user = users.get(session, user_id)
        row = session.get(TotpFactor, user_id)
        if user is None or row is None or row.confirmed_at is not None:
            return None
        secret = crypto.open_sealed(provider.kek, row.secret_enc, user_id)
        if secret is None:
            return None
        uri = totp.provisioning_uri(secret, user.username, provider.settings.mfa_issuer_label)
    return Enrolment(secret=secret, uri=uri, qr_svg=totp.qr_svg(uri), confirmed=False)


def _admit(provider: Provider, user_id: str) -> Throttle:
    """Count one one-time-code attempt of the user under the MFA throttle (given back by a
    reset on success). Raises ``Throttled`` in back-off and ``AccountLocked`` (locking the
    account) past the lockout limit."""
    from idgate.throttle import MFA, AccountLocked, Throttled, lockouts, throttle_for

    throttle = throttle_for(provider)
    decision = throttle.hit(MFA, user_id)
    if not decision.allowed:
        events.record(provider.sessions, "mfa.throttled", "throttled", actor=user_id, dedupe=user_id,
                      retry_after=round(decision.retry_after, 1))
        raise Throttled(decision.retry_after, detail="mfa back-off")
    if decision.failures > throttle.lockout:
        with transaction(provider.sessions) as session:
            user = users.get(session, user_id)
            username = user.username if user is not None else None
        if username is not None and lockouts.lock(provider.sessions, username, decision.failures - 1):
            events.record(provider.sessions, "account.locked", "locked", actor=user_id, factor="otp")
        throttle.reset(MFA, user_id)
        raise AccountLocked(detail="mfa lockout limit reached")
    return throttle


def verify_second_factor(provider: Provider, user_id: str, code: str, *, now: float | None = None) -> str:
    """Check a TOTP code or a recovery code of an account with an active factor, under the MFA
    throttle. Returns ``"totp"`` or ``"recovery"``; raises :class:`InvalidOtp`, ``Throttled`` or
    ``AccountLocked``."""
    from idgate.throttle import MFA

    now = time.time() if now is None else now
    throttle = _admit(provider, user_id)
    with transaction(provider.sessions) as session:
        method, reason = _check_code(session, provider.kek, user_id, code.strip(), now)
    if method is None:
        events.record(provider.sessions, "mfa.failure", "failure", actor=user_id, reason=reason)
        raise InvalidOtp(detail=reason)
    throttle.reset(MFA, user_id)
    events.record(provider.sessions, "mfa.success", "success", actor=user_id, method=method)
    return method


def _check_code(session: Session, kek: bytes, user_id: str, code: str, now: float) -> tuple[str | None, str]:
    row = session.get(TotpFactor, user_id)
    if row is None or row.confirmed_at is None:
        return None, "not_enrolled"
    if totp.looks_like_totp(code):
        secret = crypto.open_sealed(kek, row.secret_enc, user_id)
        if secret is None:
            return None, "secret_unreadable"
        step, replay = totp.match(secret, code, now, row.last_used_step)
        if step is not None and _consume_step(session, user_id, step):
            return "totp", ""
        return None, "replay" if replay or step is not None else "wrong_code"
    normalised = normalise_recovery_code(code)
    if normalised is None:
        return None, "malformed_code"
    result = session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.code_hash == crypto.code_hash(kek, user_id, normalised),
               RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow()))
    if result.rowcount:  # type: ignore[attr-defined]
        return "recovery", ""
    return None, "wrong_recovery_code"


def remove_totp(provider: Provider, user_id: str, *, actor: str | None = None) -> bool:
    with transaction(provider.sessions) as session:
        removed = session.execute(delete(TotpFactor).where(TotpFactor.user_id == user_id)).rowcount  # type: ignore[attr-defined]
        session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        if removed:
            events.record(None, "mfa.totp.removed", "success", actor=actor or user_id, session=session, subject=user_id)
    return bool(removed)


def remove_own_totp(provider: Provider, user_id: str, code: str) -> bool:
    """The user removing their own factor (API, account page): refused while one of their roles
    requires a second factor and no passkey would be left as one (an administrator can still
    remove it), then it needs a current code or a recovery code (:func:`verify_second_factor`)."""
    if status(provider, user_id).required and not _has_passkey(provider, user_id):
        events.record(provider.sessions, "mfa.totp.remove", "refused", actor=user_id, reason="required_by_role")
        raise MfaRequiredByRole()
    verify_second_factor(provider, user_id, code)
    return remove_totp(provider, user_id)


def _has_passkey(provider: Provider, user_id: str) -> bool:
    from idgate.store import passkeys

    with transaction(provider.sessions) as session:
        return passkeys.count_of_user(session, user_id) > 0


def regenerate_own_recovery_codes(provider: Provider, user_id: str, code: str) -> tuple[str, ...]:
    """New recovery codes for the user, given a current code or a recovery code."""
    verify_second_factor(provider, user_id, code)
    return regenerate_recovery_codes(provider, user_id)


def regenerate_recovery_codes(provider: Provider, user_id: str) -> tuple[str, ...]:
    with transaction(provider.sessions) as session:
        if not has_second_factor(session, user_id):
            raise InvalidRequest("Recovery codes need an active TOTP authenticator first.")
        codes = _replace_recovery_codes(session, provider.kek, user_id)
        events.record(None, "mfa.recovery_codes.regenerated", "success", actor=user_id, session=session)
    return codes


def has_second_factor(session: Session, user_id: str) -> bool:
    return session.scalar(select(TotpFactor.user_id).where(TotpFactor.user_id == user_id,
                                                           TotpFactor.confirmed_at.is_not(None))) is not None


def status(provider: Provider, user_id: str) -> MfaStatus:
    with transaction(provider.sessions) as session:
        user = users.get(session, user_id)
        if user is None:
            raise NotFound("No such user.")
        row = session.get(TotpFactor, user_id)
        left = session.scalar(select(func.count(RecoveryCode.id)).where(RecoveryCode.user_id == user_id,
                                                                         RecoveryCode.used_at.is_(None))) or 0
        required = bool({r.name for r in user.roles} & roles_requiring_mfa(session, provider.settings.require_mfa_roles))
    state = "none" if row is None else "active" if row.confirmed_at is not None else "pending"
    return MfaStatus(totp=state, recovery_codes_left=int(left), required=required)


def login_requirements(settings: Settings, facts: LoginFacts) -> tuple[bool, bool]:
    """``(enrolled, required)`` for a login: an active factor; a role that demands one (by
    configuration, ``require_mfa_roles``, or marked by an admin)."""
    enrolled = facts.has_second_factor
    demanding = set(settings.require_mfa_roles) | facts.roles_marked_mfa
    required = not enrolled and bool(set(facts.view.roles) & demanding)
    return enrolled, required
