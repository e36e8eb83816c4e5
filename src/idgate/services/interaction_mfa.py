"""The second-factor steps of a browser sign-in (an ``/authorize`` or ``/account`` interaction).

After a right password the interaction row remembers whose password it was
(``pending_user_id``: set only here, after :func:`idgate.services.login.check_credentials`,
never taken from a request) and which step comes next (``pending_step``):

* ``otp``: the account has an active factor; its code is due within :data:`MFA_WINDOW` seconds.
* ``enrol``: a role of the user requires a second factor and none is set up (Keycloak's
  "Configure OTP" required action). A new TOTP secret is pending for the user; the page shows
  its QR code (an image bound to this interaction, never to a user id from the request) and
  the key; a first code activates it (:func:`idgate.mfa.service.confirm_totp`: MFA throttle,
  security events).
* ``enrolled``: that first code was right and the recovery codes were shown once; "Continue"
  signs the user in, with ``amr`` "pwd otp" (a valid code was just given).

The enrolment steps last as long as the interaction (its ``expires_at``, extended to at least
:data:`ENROL_WINDOW` from the right password), so the password is not asked for again
meanwhile; no step is reachable without the password step of this very interaction, and the
interaction is reachable only from the browser session that started it
(checked by the endpoint before any of these functions runs). Moves between steps are
conditional updates, so a step is taken once even with two tabs posting at the same time.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update

from idgate import clock, ids
from idgate.errors import Conflict, IdgateError
from idgate.mfa import service as mfa
from idgate.mfa.service import Enrolment
from idgate.provider import Provider
from idgate.store import users
from idgate.store.db import transaction
from idgate.store.models_oauth import Interaction
from idgate.store.models_security import TotpFactor

OTP, ENROL, ENROLLED = "otp", "enrol", "enrolled"
MFA_WINDOW = 300  # seconds between a right password and its second factor (an enrolled account)
# Setting up an authenticator may mean installing an app first: after a right password the
# interaction gets at least this long from then on, whatever was left of it.
ENROL_WINDOW = 900


class StepUnavailable(IdgateError):
    """The interaction is not at this step: no password was given in it, it took too long, or
    the step was already taken (another tab)."""

    error = "invalid_request"
    status_code = 400
    description = "Sign in first: enter your username and password."


@dataclass(frozen=True)
class EnrolmentStep:
    """What the set-up page shows: whose it is, the key to type, the QR code's SVG."""

    username: str
    enrolment: Enrolment

    @property
    def grouped_key(self) -> str:
        secret = self.enrolment.secret
        return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


@dataclass(frozen=True)
class SecondFactors:
    """Which second factors the pending user can give at the code step (they choose)."""

    totp: bool
    passkey: bool


TOTP_ONLY = SecondFactors(totp=True, passkey=False)


def second_factors(provider: Provider, user_id: str) -> SecondFactors:
    from idgate.store import passkeys

    with transaction(provider.sessions) as session:
        totp = session.get(TotpFactor, user_id)
        has_passkey = passkeys.count_of_user(session, user_id) > 0
    active = totp is not None and totp.confirmed_at is not None
    return SecondFactors(totp=active or not has_passkey, passkey=has_passkey)


def step_of(row: Interaction, now: int | None = None) -> str | None:
    """The second-factor step the interaction waits for, or None (none, or too late for a code)."""
    if row.pending_user_id is None:
        return None
    step = row.pending_step or OTP
    if step == OTP and (clock.now() if now is None else now) - (row.pending_since or 0) > MFA_WINDOW:
        return None
    return step if step in (OTP, ENROL, ENROLLED) else None


def _move(provider: Provider, interaction_id: str, *, user_id: str | None = None, step: str | None = None,
          **values: object) -> bool:
    """Update the interaction; with ``step``, only if it is still at that step for ``user_id``."""
    query = update(Interaction).where(Interaction.id_hash == ids.token_hash(interaction_id))
    if step is not None:
        query = query.where(Interaction.pending_user_id == user_id, Interaction.pending_step == step)
    with transaction(provider.sessions) as session:
        return bool(session.execute(query.values(**values)).rowcount)  # type: ignore[attr-defined]


def await_code(provider: Provider, interaction_id: str, user_id: str) -> None:
    """The password was right and the account has a factor: its code comes next."""
    _move(provider, interaction_id, pending_user_id=user_id, pending_since=clock.now(), pending_step=OTP)


def begin_enrolment(provider: Provider, interaction_id: str, user_id: str) -> str:
    """The password was right and a role requires a factor that is not set up: a new pending
    TOTP secret (replacing any earlier pending one, so a key shown before is worthless) and the
    set-up step. Returns the step (``otp`` if a factor was activated in the meantime)."""
    try:
        mfa.enroll_totp(provider, user_id)
    except Conflict:  # activated elsewhere since the password was checked: ask for its code
        await_code(provider, interaction_id, user_id)
        return OTP
    now = clock.now()
    with transaction(provider.sessions) as session:
        row = session.execute(select(Interaction.expires_at)
                              .where(Interaction.id_hash == ids.token_hash(interaction_id))).first()
    until = max(row[0], clock.from_timestamp(now + ENROL_WINDOW)) if row is not None else None
    extra = {"expires_at": until} if until is not None else {}
    _move(provider, interaction_id, pending_user_id=user_id, pending_since=now, pending_step=ENROL, **extra)
    return ENROL


def enrolment_of(provider: Provider, row: Interaction) -> EnrolmentStep | None:
    """The pending enrolment of the interaction's pending user while it is at the set-up step."""
    if step_of(row) != ENROL or row.pending_user_id is None:
        return None
    enrolment = mfa.pending_enrolment(provider, row.pending_user_id)
    if enrolment is None:
        return None
    with transaction(provider.sessions) as session:
        user = users.get(session, row.pending_user_id)
        if user is None or user.disabled:
            return None
        username = user.username
    return EnrolmentStep(username, enrolment)


def confirm_enrolment(provider: Provider, interaction_id: str, row: Interaction, code: str) -> tuple[str, ...]:
    """A first code for the set-up step: activates the factor and returns the ten recovery
    codes (to show once). Raises :class:`StepUnavailable`, or what ``confirm_totp`` raises:
    ``InvalidOtp``, ``Throttled``, ``AccountLocked``, ``InvalidRequest`` (nothing pending any more)."""
    user_id = row.pending_user_id
    if step_of(row) != ENROL or user_id is None:
        raise StepUnavailable(detail="enrolment confirm without the set-up step")
    codes = mfa.confirm_totp(provider, user_id, code)
    _move(provider, interaction_id, user_id=user_id, step=ENROL, pending_step=ENROLLED)
    return codes


def finish_enrolment(provider: Provider, interaction_id: str, row: Interaction) -> str:
    """"Continue" after the recovery codes: the user id to sign in (amr "pwd otp"), once."""
    user_id = row.pending_user_id
    if step_of(row) != ENROLLED or user_id is None or not _move(
            provider, interaction_id, user_id=user_id, step=ENROLLED, pending_user_id=None, pending_since=None,
            pending_step=None):
        raise StepUnavailable(detail="continue without a confirmed enrolment in this interaction")
    return user_id


def abandon(provider: Provider, interaction_id: str) -> None:
    """Forget the pending user (a locked account, an enrolment removed meanwhile): the password again."""
    _move(provider, interaction_id, pending_user_id=None, pending_since=None, pending_step=None)
