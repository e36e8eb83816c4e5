"""The throttle as the login flow uses it: counters before the hash, lock check, outcome.

Order in :func:`idgate.services.login.check_credentials`::

    guard.before_hash()   # device | ip + account back-off; lock at the limit   -> 429 / 403
    lockouts.locked()     # durable lock (skipped for a known device), read in the
                          # same transaction as the password hash                -> 403
    ...one password hash...
    guard.succeeded() | (failure: the attempt stays counted)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio.to_thread

from idgate import clock
from idgate import events

from . import ACCOUNT, DEVICE, IP, account_name, devices, lockouts, throttle_for
from .errors import AccountLocked, Throttled

if TYPE_CHECKING:
    from idgate.provider import Provider


def _owner_of(provider: Provider, account: str) -> str | None:
    """The sub of an existing account (for the lock event; unknown names are not recorded)."""
    from idgate.store import users
    from idgate.store.db import transaction

    with transaction(provider.sessions) as session:
        user = users.find_by_username(session, account)
        return user.id if user is not None else None


class LoginGuard:
    def __init__(self, provider: Provider, username: str, ip: str | None, device_token: str | None) -> None:
        self.provider = provider
        self.throttle = throttle_for(provider)
        self.account = account_name(username)
        self.ip = ip or "-"
        self.device = devices.verify(provider.kek, device_token, self.account, now=clock.now()) if device_token else None
        self._counted_ip = False

    @property
    def known_device(self) -> bool:
        return self.device is not None

    async def _refuse(self, scope: str, decision_retry: float) -> None:
        # One row per throttled key and minute (the log gets every one): a flood is not also a
        # flood of database writes.
        key = {"ip": self.ip, "account": self.account, "device": self.device or ""}[scope]
        await events.arecord(self.provider.sessions, "login.throttled", "throttled", dedupe=f"{scope}:{key}",
                             scope=scope, retry_after=round(decision_retry, 1))
        raise Throttled(decision_retry, detail=f"{scope} back-off")

    async def before_hash(self) -> None:
        t = self.throttle
        if self.device is not None:
            d = await t.ahit(DEVICE, self.device)
            if not d.allowed:
                await self._refuse("device", d.retry_after)
            if d.failures <= devices.DEVICE_MAX_FAILURES:
                return
            self.device = None  # this device has guessed too often: no longer trusted
        d = await t.ahit(IP, self.ip)
        if not d.allowed:
            await self._refuse("ip", d.retry_after)
        self._counted_ip = True
        d = await t.ahit(ACCOUNT, self.account)
        if not d.allowed:
            # No guess was made: give the IP its attempt back, so a flood at one throttled account
            # does not also slow down the other users behind the same address.
            await t.arefund(IP, self.ip)
            self._counted_ip = False
            await self._refuse("account", d.retry_after)
        if d.failures > t.lockout:
            # The limit of consecutive failures is reached: lock durably, and restart the count
            # so that an unlock made by another process (the CLI) is not undone by this counter.
            newly = await anyio.to_thread.run_sync(lockouts.lock, self.provider.sessions, self.account, d.failures - 1)
            await t.areset(ACCOUNT, self.account)
            if newly:
                owner = await anyio.to_thread.run_sync(_owner_of, self.provider, self.account)
                await events.arecord(self.provider.sessions, "account.locked", "locked", actor=owner,
                                     username=self.account if owner else None, failures=d.failures - 1)
            raise AccountLocked(detail="lockout limit reached")

    async def succeeded(self) -> None:
        t = self.throttle
        await t.areset(ACCOUNT, self.account)
        if self.device is not None:
            await t.areset(DEVICE, self.device)
        if self._counted_ip:
            await t.arefund(IP, self.ip)

    def new_device_token(self) -> str:
        s = self.provider.settings
        return devices.issue(self.provider.kek, self.account, now=clock.now(), ttl=s.device_token_ttl)
