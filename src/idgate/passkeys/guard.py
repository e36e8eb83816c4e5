"""Passkey attempts under the password throttle (:mod:`idgate.throttle`): every sign-in
ceremony answer counts against the client IP's budget before it is checked, exactly as a
password guess does, and a success gives it back: a flood of forged assertions backs off like
a flood of password guesses (429 with Retry-After)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import anyio.to_thread

from idgate import events
from idgate.throttle import IP, throttle_for
from idgate.throttle.errors import Throttled

if TYPE_CHECKING:
    from idgate.provider import Provider

T = TypeVar("T")


async def guarded(provider: Provider, ip: str | None, check: Callable[[], T]) -> T:
    """Run ``check`` (a blocking ceremony verification) in a thread under the IP throttle:
    :class:`Throttled` (429, Retry-After) while the address is backing off."""
    throttle = throttle_for(provider)
    address = ip or "-"
    decision = await throttle.ahit(IP, address)
    if not decision.allowed:
        await events.arecord(provider.sessions, "login.throttled", "throttled", dedupe=f"ip:{address}", scope="ip",
                             method="passkey", retry_after=round(decision.retry_after, 1))
        raise Throttled(decision.retry_after, detail="ip back-off (passkey)")
    result = await anyio.to_thread.run_sync(check)  # a refusal leaves the attempt counted
    await throttle.arefund(IP, address)
    return result
