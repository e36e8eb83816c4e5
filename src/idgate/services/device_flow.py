"""The device authorization grant (RFC 8628): a device without a browser (a TV, a CLI) asks
for a code pair, shows the user code, and polls the token endpoint; the user signs in on
another device, enters the code at ``/device``, checks which app asks for what, and approves.

* Device code: 256 random bits, stored as its SHA-256, single use, 10 minutes (§3.2).
* User code: 8 letters from the 20 consonants of §6.1 (no vowels, so no words; no 0/O, 1/I),
  about 34.5 bits, shown as ``BCDF-GHJK``; case, spaces and dashes are ignored when typed. It
  is looked up only by a signed-in user, under the throttle (brute force, §5.1).
* Polling: ``authorization_pending`` until the user decides; faster than ``interval`` ->
  ``slow_down`` and the interval grows by 5 s (§3.5); ``expired_token``; ``access_denied``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from idgate import clock, events, ids
from idgate.errors import AuthorizationPending, DeviceAccessDenied, ExpiredToken, IdgateError, InvalidGrant, \
    InvalidTarget, SlowDown, UnauthorizedClient
from idgate.provider import Provider
from idgate.services.client_tokens import TokenSet, client_audience
from idgate.services.clients.registry import get_client
from idgate.services.clients.view import ClientView
from idgate.services.oidc import acr_of
from idgate.services.user_tokens import UserAuthorization, user_tokens
from idgate.store.db import transaction
from idgate.store.models_device import DeviceAuthorization
from idgate.store.users import UserView
from idgate.tokens.access import grant_scope, parse_scope

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEVICE_CODE_TTL = timedelta(minutes=10)
INTERVAL = 5
SLOW_DOWN_STEP = 5
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8


@dataclass(frozen=True)
class DeviceStart:
    """The §3.2 device authorization response."""

    device_code: str
    user_code: str
    expires_in: int
    interval: int

    def as_dict(self, issuer: str) -> dict[str, object]:
        base = issuer.rstrip("/")
        return {"device_code": self.device_code, "user_code": display(self.user_code),
                "verification_uri": f"{base}/device",
                "verification_uri_complete": f"{base}/device?user_code={self.user_code}",
                "expires_in": self.expires_in, "interval": self.interval}


@dataclass(frozen=True)
class PendingDevice:
    """What the verification page shows before the user approves."""

    user_code: str
    client: ClientView
    scope: tuple[str, ...]
    expires_at: datetime


def display(user_code: str) -> str:
    return f"{user_code[:4]}-{user_code[4:]}"


def normalise_user_code(typed: str) -> str | None:
    """What the user typed, as stored: upper case, no spaces or dashes; None if it cannot be one."""
    code = "".join(ch for ch in (typed or "")[:32].upper() if ch not in " -\t")
    if len(code) != USER_CODE_LENGTH or not set(code) <= set(USER_CODE_ALPHABET):
        return None
    return code


def _new_user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def start(provider: Provider, client: ClientView, params: dict[str, str]) -> DeviceStart:
    """§3.1-3.2: a new device code pair for an authenticated client allowed the grant."""
    if DEVICE_GRANT not in client.grant_types:
        raise UnauthorizedClient(detail=f"{client.client_id} lacks the device_code grant")
    scope = grant_scope(parse_scope(params.get("scope")), client.scopes)
    try:
        audience = client_audience(provider, client, params.get("resource") or params.get("audience"))
    except IdgateError:
        raise InvalidTarget() from None
    now = clock.utcnow()
    device_code = "igd_" + ids.jti() + ids.jti()
    for _ in range(5):  # a user code already in use (1 in 2.5e10 per live code): draw again
        user_code = _new_user_code()
        try:
            with transaction(provider.sessions) as session:
                session.add(DeviceAuthorization(
                    device_code_hash=ids.token_hash(device_code), user_code=user_code, client_id=client.client_id,
                    scope=" ".join(scope), audience=audience, interval=INTERVAL, created_at=now,
                    expires_at=now + DEVICE_CODE_TTL))
                if secrets.randbelow(16) == 0:  # now and then, sweep codes long expired
                    session.execute(DeviceAuthorization.__table__.delete().where(
                        DeviceAuthorization.expires_at < now - timedelta(days=1)))
            break
        except IntegrityError:
            continue
    else:  # pragma: no cover - five collisions in a row
        raise InvalidGrant(detail="could not draw a free user code")
    events.record(provider.sessions, "device.started", "pending", client_id=client.client_id, scope=" ".join(scope))
    return DeviceStart(device_code, user_code, int(DEVICE_CODE_TTL.total_seconds()), INTERVAL)


def find_pending(provider: Provider, user_code: str) -> PendingDevice | None:
    """The pending request with this (normalised) user code, not expired; None otherwise."""
    with transaction(provider.sessions) as session:
        row = session.scalar(select(DeviceAuthorization).where(DeviceAuthorization.user_code == user_code))
        if row is None or row.status != "pending" or clock.utcnow() >= row.expires_at:
            return None
        client = get_client(session, row.client_id)
        if client is None:
            return None
        return PendingDevice(row.user_code, client, tuple(row.scope.split()), row.expires_at)


def decide(provider: Provider, user_code: str, user: UserView, *, auth_time: int, amr: str, approve: bool) -> bool:
    """The signed-in user approves or denies; False if the code is no longer pending (decided
    in another tab, expired). The sign-in's auth_time and amr go into the tokens (OIDC Core §2)."""
    values: dict[str, object] = {"status": "approved" if approve else "denied"}
    if approve:
        values.update(user_id=user.id, auth_time=auth_time, amr=amr)
    with transaction(provider.sessions) as session:
        changed = session.execute(update(DeviceAuthorization).where(
            DeviceAuthorization.user_code == user_code, DeviceAuthorization.status == "pending",
            DeviceAuthorization.expires_at > clock.utcnow()).values(**values)).rowcount  # type: ignore[attr-defined]
        if changed:
            row = session.scalar(select(DeviceAuthorization.client_id).where(DeviceAuthorization.user_code == user_code))
            events.record(None, "device.approved" if approve else "device.denied", "success", session=session,
                          actor=user.id, client_id=row)
    return bool(changed)


def poll(provider: Provider, client: ClientView, device_code: str, now: int | None = None, *,
         dpop_jkt: str | None = None) -> TokenSet:
    """§3.4-3.5: the device's token request. Raises the §3.5 errors while there is nothing to give."""
    if DEVICE_GRANT not in client.grant_types:
        raise UnauthorizedClient(detail=f"{client.client_id} lacks the device_code grant")
    issued = clock.now() if now is None else now
    at = clock.from_timestamp(issued)
    provider.keyring()  # read before the write transaction (see authorization_codes.exchange_code)
    outcome: IdgateError
    with transaction(provider.sessions) as session:
        row = session.get(DeviceAuthorization, ids.token_hash(device_code), with_for_update=True)
        if row is None or row.client_id != client.client_id:
            raise InvalidGrant(detail="unknown device code, or another client's")
        if at >= row.expires_at:
            raise ExpiredToken()
        if row.status == "approved" and row.user_id is not None:
            row.status = "used"
            amr = row.amr or "pwd"
            return user_tokens(provider, session, client, UserAuthorization(
                user_id=row.user_id, scope=row.scope, audience=row.audience, auth_time=row.auth_time or issued,
                amr=amr, acr=acr_of(amr), sid=None), issued, dpop_jkt, grant="device_code").tokens
        if row.status == "denied":
            raise DeviceAccessDenied()
        if row.status == "used":
            raise InvalidGrant(detail="device code already used")
        if row.last_polled_at is not None and at < row.last_polled_at + timedelta(seconds=row.interval):
            row.interval += SLOW_DOWN_STEP
            outcome = SlowDown(detail=f"interval now {row.interval} s")
        else:
            outcome = AuthorizationPending()
        row.last_polled_at = at
    raise outcome  # after the commit: the poll time and the longer interval are kept
