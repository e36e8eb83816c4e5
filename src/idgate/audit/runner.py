"""Every check of the auditor, and running them: importing :mod:`idgate.audit.checks` registers
them with :mod:`idgate.audit.registry`, which knows nothing of the checks themselves (so the
registry and the checks that use its decorator do not import each other)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import idgate.audit.checks  # noqa: F401  (registers the checks)
from idgate.audit.model import Finding
from idgate.audit.registry import Check, registered, run_one

if TYPE_CHECKING:
    from idgate.audit.target import Target


def all_checks() -> list[Check]:
    """Every check, grouped in chain order, registration order within a group."""
    return registered()


def run_all(target: Target, only: Iterable[str] | None = None) -> list[Finding]:
    """Run every check (or those whose id starts with one of ``only``)."""
    prefixes = tuple(only or ())
    return [run_one(c, target) for c in all_checks() if not prefixes or c.id.startswith(prefixes)]
