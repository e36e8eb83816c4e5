"""The auditor: ``idgate audit URL`` answers "is this JWT set-up secure enough?" with evidence.

    from idgate.audit import AuditOptions, audit
    findings = audit(AuditOptions("https://idp.example", ca=Path("ca.pem")))

Checks live in :mod:`idgate.audit.checks` (one module per link of the login-to-JWT chain) and
register themselves with :func:`idgate.audit.registry.check`; :mod:`idgate.audit.runner` runs them; :mod:`idgate.audit.report`
renders the findings.
"""

from __future__ import annotations

from idgate.audit.model import Finding, Verdict
from idgate.audit.runner import run_all
from idgate.audit.target import AuditOptions, Target

__all__ = ["AuditOptions", "Finding", "Verdict", "audit"]


def audit(options: AuditOptions) -> list[Finding]:
    target = Target(options)
    try:
        return run_all(target)
    finally:
        target.close()
