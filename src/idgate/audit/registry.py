"""The check registry: ``@check("tls.min-version", group="transport", ...)`` and ``run_one``.

A check is a small function ``(target) -> Outcome``. Its id, title, explanation and fix are
fixed texts given to the decorator, so ids are stable and every finding explains itself. A
check may raise :class:`~idgate.audit.model.Skip` when something it needs is missing (no
token, no discovery document, target unreachable); anything else it raises becomes a FAIL that
says the check could not finish, never a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from idgate.audit.model import Finding, Outcome, Skip, Verdict

if TYPE_CHECKING:
    from idgate.audit.target import Target

# Groups follow the links of the login-to-JWT chain, in the order a token travels.
GROUPS: dict[str, str] = {
    "transport": "Transport: TLS and HTTPS",
    "credentials": "Sending credentials",
    "keys": "Discovery and signing keys",
    "tokens": "Access tokens",
    "active": "Active probes: forged tokens",
    "browser": "Browser login page",
    "local": "Local deployment files (--data)",
}
_ID = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)+$")

CheckFunc = Callable[["Target"], Outcome]


@dataclass(frozen=True)
class Check:
    id: str
    group: str
    title: str
    explanation: str
    fix: str
    func: CheckFunc


_CHECKS: dict[str, Check] = {}


def check(check_id: str, *, group: str, title: str, explanation: str, fix: str) -> Callable[[CheckFunc], CheckFunc]:
    """Register a check under a stable id (lower-case, dotted: ``link.what``)."""
    if not _ID.fullmatch(check_id):
        raise ValueError(f"check id {check_id!r} must look like 'tls.min-version'")
    if group not in GROUPS:
        raise ValueError(f"check {check_id}: unknown group {group!r}")

    def register(func: CheckFunc) -> CheckFunc:
        if check_id in _CHECKS:
            raise ValueError(f"check id {check_id!r} registered twice")
        _CHECKS[check_id] = Check(check_id, group, title, " ".join(explanation.split()), " ".join(fix.split()), func)
        return func

    return register


def registered() -> list[Check]:
    """The checks registered so far, grouped in chain order, registration order within a group.
    (Registration happens when :mod:`idgate.audit.checks` is imported; see :mod:`idgate.audit.runner`.)"""
    order = list(GROUPS)
    return sorted(_CHECKS.values(), key=lambda c: order.index(c.group))


def run_one(item: Check, target: Target) -> Finding:
    try:
        outcome = item.func(target)
    except Skip as exc:
        outcome = Outcome(Verdict.SKIP, exc.reason)
    except httpx.HTTPError as exc:
        outcome = Outcome(Verdict.SKIP, f"A request failed, so this could not be checked: {_describe(exc)}")
    except Exception as exc:  # a check must never end the audit with a traceback
        outcome = Outcome(Verdict.FAIL, f"The check could not finish: {type(exc).__name__}: {exc}")
    return Finding(item.id, outcome.verdict, item.title, outcome.evidence, item.explanation, item.fix, item.group)


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    request = getattr(exc, "_request", None)
    return f"{request.method} {request.url.copy_with(query=None)}: {text}" if request is not None else text
