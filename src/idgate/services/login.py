"""First-party password login: credentials in, access token out.

The order matters for safety: cheap input checks first, then exactly one password-hash
verification whether or not the user exists (a dummy hash for unknown users), and only then any
answer that depends on the account. The token itself is minted by
:mod:`idgate.services.issuance`, as for every other grant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from sqlalchemy.orm import Session

from idgate import clock
from idgate.errors import InvalidCredentials
from idgate.passwords.hashing import VerifyResult
from idgate.provider import Provider
from idgate.services.clients.first_party import FIRST_PARTY_CLIENT_ID
from idgate.services.issuance import TokenResponse, access_claims, allowed_audiences, lifetimes, \
    mint_access_token, refuse_readable_confidential_claims, sign_access_claims
from idgate.store import users
from idgate.store.db import transaction
from idgate.store.users import UserView
from idgate.tokens import refresh
from idgate.tokens.access import choose_audience, grant_scope, parse_scope, token_type


@dataclass(frozen=True)
class _Candidate:
    user_id: str | None
    password_hash: str | None
    disabled: bool


def _before_hash(provider: Provider, username: str, account: str, check_lock: bool) -> tuple[bool, _Candidate]:
    """One read before the hash: is the account durably locked, and whose hash to check."""
    from idgate.throttle import lockouts

    # Two reads on a plain connection: an ORM session's bookkeeping cost more than the queries.
    with provider.engine.connect() as conn:
        locked = check_lock and lockouts.locked(conn, account)
        found = None if locked else users.credentials_of(conn, username)
    return locked, _Candidate(None, None, False) if found is None else _Candidate(*found)


# Starts a grant inside the caller's transaction for a checked user; returns the refresh token.
GrantStarter = Callable[[Session, UserView], str]


@dataclass(frozen=True)
class _Checked:
    view: UserView
    enrolled: bool  # an active second factor
    required: bool  # a role demands one that is not set up
    recorded: bool  # login.success already written (no second factor to ask for)
    refresh_token: str | None = None  # the grant started in the same transaction, if asked to


def _after_hash(provider: Provider, user_id: str, new_hash: str | None, second_factor: bool,
                event: dict[str, Any], start_grant: GrantStarter | None = None) -> _Checked | None:
    """One transaction after a correct password: store an upgraded hash, load the user with
    roles and permissions, read the second-factor requirements, and - when no second factor
    is due - record the success and (``start_grant``) start the refresh-token grant. None if
    the user vanished or was disabled meanwhile."""
    from idgate.mfa import service as mfa
    from idgate import events

    with transaction(provider.sessions) as session:
        facts = users.login_facts(session, user_id)
        if facts is None or facts.view.disabled:
            return None
        view = facts.view
        if new_hash:
            user = users.get(session, user_id)
            if user is not None:
                users.set_password_hash(session, user, new_hash, changed=False)
        enrolled, required = mfa.login_requirements(provider.settings, facts)
        done = not (enrolled and second_factor)
        refresh_token = None
        if done:
            events.record(None, "login.success", "success", session=session, actor=view.id, username=view.username,
                          amr=["pwd"], mfa_enrollment_required=required or None, **event)
            if start_grant is not None and not required:
                refresh_token = start_grant(session, view)
        return _Checked(view, enrolled, required, done, refresh_token)


@dataclass(frozen=True)
class _JobOutcome:
    locked: bool
    candidate: _Candidate
    password_ok: bool = False
    checked: _Checked | None = None


def _login_job(provider: Provider, username: str, account: str, check_lock: bool, password: str,
               second_factor: bool, event: dict[str, Any], start_grant: GrantStarter | None, *,
               verify: Callable[[str | None, str], VerifyResult]) -> _JobOutcome:
    """Runs on a hashing worker (HashPool.run_job): the read, exactly one hash - a dummy one for
    an unknown user, so both cost the same - and, only after a correct password for an enabled
    user, the write. A locked account is refused before any hash."""
    locked, candidate = _before_hash(provider, username, account, check_lock)
    if locked:
        return _JobOutcome(True, candidate)
    result = verify(candidate.password_hash, password)
    if not result.ok or candidate.user_id is None or candidate.disabled:
        return _JobOutcome(False, candidate, result.ok)
    checked = _after_hash(provider, candidate.user_id, result.new_hash, second_factor, event, start_grant)
    return _JobOutcome(False, candidate, True, checked)


@dataclass(frozen=True)
class LoginResult:
    """A checked login: the user, how they authenticated (RFC 8176 ``amr``), a fresh known-device
    token, and whether a role demands a second factor the user has not set up yet."""

    user: UserView
    amr: tuple[str, ...]
    device_token: str | None = None
    mfa_enrollment_required: bool = False
    refresh_token: str | None = None  # when check_credentials was given start_grant and it ran


MFA_ENROLL_SCOPE = "idgate:mfa-enroll"


async def check_credentials(provider: Provider, username: str, password: str, *, client_ip: str | None = None,
                            otp: str | None = None, device_token: str | None = None,
                            second_factor: bool = True, start_grant: GrantStarter | None = None) -> LoginResult:
    """Check a password (and the second factor when the account has one).

    1. Throttle (per account, per client IP, or per known device) *before* any hash: 429 with
       Retry-After while backing off, 403 once locked (issue 5; NIST SP 800-63B §5.2.2).
    2. Exactly one password hash, whether or not the user exists (a dummy hash otherwise), and
       one failure event either way: unknown user, disabled user and wrong password raise the
       same ``InvalidCredentials`` after the same work.
    3. With an active TOTP factor: no ``otp`` -> ``MfaRequired``; a wrong or replayed one ->
       ``InvalidOtp`` (under its own throttle); a good one -> ``amr = ["pwd", "otp"]``.
    ``client_ip`` defaults to the address of the request being served. ``second_factor=False``
    checks the password only (re-authentication of a user already signed in, e.g. before a
    password change); the result's ``amr`` is then ``["pwd"]``.
    """
    from idgate.mfa import MfaRequired
    from idgate.mfa import service as mfa
    from idgate import events
    from idgate.throttle import AccountLocked
    from idgate.throttle.guard import LoginGuard

    guard = LoginGuard(provider, username, client_ip or events.current_request().ip, device_token)
    await guard.before_hash()
    # One trip to a hashing worker: the read, the hash, and (after a correct password) the write.
    job = await provider.hash_pool.run_job(_login_job, provider, username, guard.account, not guard.known_device,
                                           password, second_factor, {"known_device": guard.known_device},
                                           start_grant)
    if job.locked:
        await events.arecord(provider.sessions, "login.failure", "locked", reason="locked", dedupe=guard.account)
        raise AccountLocked(detail="account locked")
    candidate = job.candidate
    if not job.password_ok or candidate.user_id is None or candidate.disabled:
        reason = "unknown_user" if candidate.user_id is None else "bad_password" if not job.password_ok else "disabled"
        await events.arecord(provider.sessions, "login.failure", "failure", actor=candidate.user_id, reason=reason,
                             known_device=guard.known_device)
        raise InvalidCredentials(detail=reason)
    await guard.succeeded()
    checked = job.checked
    if checked is None:
        raise InvalidCredentials(detail="user vanished or was disabled during login")
    view, required = checked.view, checked.required
    amr: tuple[str, ...] = ("pwd",)
    if not checked.recorded:  # an active second factor: ask for it, check it, then record
        if not otp:
            await events.arecord(provider.sessions, "login.mfa_required", "pending", actor=view.id)
            raise MfaRequired(view.id)
        await anyio.to_thread.run_sync(mfa.verify_second_factor, provider, view.id, otp)
        amr = ("pwd", "otp")
        await events.arecord(provider.sessions, "login.success", "success", actor=view.id, username=view.username,
                             amr=list(amr), known_device=guard.known_device, mfa_enrollment_required=required or None)
    return LoginResult(view, amr, guard.new_device_token(), mfa_enrollment_required=required,
                       refresh_token=checked.refresh_token)


async def authenticate(provider: Provider, username: str, password: str, *, client_ip: str | None = None,
                       otp: str | None = None, device_token: str | None = None,
                       second_factor: bool = True) -> UserView:
    """Check a password; unknown user, disabled user and wrong password all raise the same
    ``InvalidCredentials`` after the same amount of hashing work. Throttled, locked and
    second-factor cases raise as :func:`check_credentials` describes; a user whose role needs a
    second factor that is not set up gets ``MfaEnrollmentRequired`` (unless ``second_factor``
    is False: a password-only re-authentication)."""
    outcome = await check_credentials(provider, username, password, client_ip=client_ip, otp=otp,
                                      device_token=device_token, second_factor=second_factor)
    if outcome.mfa_enrollment_required and second_factor:
        from idgate.mfa.errors import MfaEnrollmentRequired

        raise MfaEnrollmentRequired()
    return outcome.user



def _start_grant_in(session: Session, provider: Provider, user_id: str, scope: str, audience: str, now: int,
                    amr: Sequence[str] = ("pwd",), dpop_jkt: str | None = None) -> str:
    from idgate import events

    # The session keeps the login's amr: tokens refreshed from it carry the same.
    grant, token = refresh.start(session, user_id=user_id, client_id=FIRST_PARTY_CLIENT_ID, scope=scope,
                                 audience=audience, now=clock.from_timestamp(now),
                                 lifetimes=lifetimes(provider.settings), amr=" ".join(amr), dpop_jkt=dpop_jkt)
    events.record(None, "token.issued", "success", actor=user_id, client_id=FIRST_PARTY_CLIENT_ID,
                  session=session, sid=grant.session_id, scope=scope, grant="password", dpop_jkt=dpop_jkt)
    return token


def _start_grant(provider: Provider, user_id: str, scope: str, audience: str, now: int,
                 amr: Sequence[str] = ("pwd",), dpop_jkt: str | None = None) -> str:
    with transaction(provider.sessions) as session:
        return _start_grant_in(session, provider, user_id, scope, audience, now, amr, dpop_jkt)


async def password_login(provider: Provider, username: str, password: str, *, scope: str | None = None,
                         audience: str | None = None, now: int | None = None, otp: str | None = None,
                         device_token: str | None = None, client_ip: str | None = None,
                         dpop_jkt: str | None = None) -> TokenResponse:
    """The first-party password login. With ``dpop_jkt`` (a checked DPoP proof's key, RFC 9449
    §5) the access token and the refresh tokens of the new session are bound to that key: the
    first-party app is a public client."""
    settings = provider.settings
    requested_scope = parse_scope(scope)
    chosen_audience = choose_audience(audience, allowed_audiences(provider), settings.token_audience)
    prepared: list[tuple[int, dict[str, Any]]] = []  # (issued at, checked claims) from start_grant

    def start_grant(session: Session, view: UserView) -> str:
        # No second factor due: the grant starts in the login's own transaction (one trip less).
        # The token is signed after the transaction (signing may re-read the key table, which
        # must not wait on this transaction's write lock), but its claims are built and the one
        # refusal minting can give is checked here first, so a refused token leaves no grant
        # and no "issued" event.
        at = clock.now() if now is None else now
        granted_now = grant_scope(requested_scope, view.permissions)
        claims = access_claims(provider, view, client_id=FIRST_PARTY_CLIENT_ID, scope=granted_now,
                               audience=chosen_audience, now=at, dpop_jkt=dpop_jkt)
        refuse_readable_confidential_claims(provider, claims, chosen_audience)
        prepared.append((at, claims))
        return _start_grant_in(session, provider, view.id, " ".join(granted_now), chosen_audience, at,
                               dpop_jkt=dpop_jkt)

    outcome = await check_credentials(provider, username, password, client_ip=client_ip, otp=otp,
                                      device_token=device_token, start_grant=start_grant)
    user = outcome.user
    issued_at = prepared[0][0] if prepared else (clock.now() if now is None else now)
    if outcome.mfa_enrollment_required:
        # A role requires a second factor and none is set up: a token good only for enrolling
        # one (/mfa/totp), with no roles, no permissions and no refresh token.
        import dataclasses

        from idgate import events

        limited = dataclasses.replace(user, roles=(), permissions=())
        token = mint_access_token(provider, limited, client_id=FIRST_PARTY_CLIENT_ID, scope=[MFA_ENROLL_SCOPE],
                                  audience=settings.issuer, now=issued_at, amr=outcome.amr, dpop_jkt=dpop_jkt)
        await events.arecord(provider.sessions, "token.issued", "success", actor=user.id,
                             client_id=FIRST_PARTY_CLIENT_ID, scope=MFA_ENROLL_SCOPE, grant="password")
        return TokenResponse(access_token=token, expires_in=settings.access_token_ttl, scope=MFA_ENROLL_SCOPE,
                             device_token=outcome.device_token, mfa_enrollment_required=True,
                             token_type=token_type(dpop_jkt))
    granted = grant_scope(requested_scope, user.permissions)
    if outcome.refresh_token is not None and prepared:
        token, refresh_token = sign_access_claims(provider, prepared[0][1], chosen_audience), outcome.refresh_token
    else:  # a second factor was checked first: mint and start the grant now
        token = mint_access_token(provider, user, client_id=FIRST_PARTY_CLIENT_ID, scope=granted,
                                  audience=chosen_audience, now=issued_at, amr=outcome.amr, dpop_jkt=dpop_jkt)
        refresh_token = await anyio.to_thread.run_sync(_start_grant, provider, user.id, " ".join(granted),
                                                       chosen_audience, issued_at, outcome.amr, dpop_jkt)
    return TokenResponse(access_token=token, expires_in=settings.access_token_ttl, scope=" ".join(granted),
                         refresh_token=refresh_token, device_token=outcome.device_token,
                         token_type=token_type(dpop_jkt))
