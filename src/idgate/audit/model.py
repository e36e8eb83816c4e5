"""What the auditor reports: one :class:`Finding` per check, with a :class:`Verdict`.

A finding is self-contained so every output format (text, JSON, markdown, HTML) can show it
without knowing the check: what was checked (``title``), what was seen (``evidence``), why it
matters (``explanation``) and what to do (``fix``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"  # could not be checked; the evidence says why


@dataclass(frozen=True)
class Finding:
    check_id: str
    verdict: Verdict
    title: str
    evidence: str
    explanation: str
    fix: str
    group: str = ""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        return data


@dataclass(frozen=True)
class Outcome:
    """What a check function returns; the registry adds the check's fixed texts."""

    verdict: Verdict
    evidence: str


def passed(evidence: str) -> Outcome:
    return Outcome(Verdict.PASS, evidence)


def warned(evidence: str) -> Outcome:
    return Outcome(Verdict.WARN, evidence)


def failed(evidence: str) -> Outcome:
    return Outcome(Verdict.FAIL, evidence)


def skipped(reason: str) -> Outcome:
    return Outcome(Verdict.SKIP, reason)


class Skip(Exception):
    """Raised anywhere inside a check when something it needs is missing; becomes SKIP."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def worst(outcomes: list[Outcome]) -> Verdict:
    order = [Verdict.FAIL, Verdict.WARN, Verdict.PASS, Verdict.SKIP]
    for verdict in order:
        if any(o.verdict is verdict for o in outcomes):
            return verdict
    return Verdict.SKIP


def summary(findings: list[Finding]) -> dict[str, int]:
    return {v.value: sum(1 for f in findings if f.verdict is v) for v in Verdict}


def summary_line(findings: list[Finding]) -> str:
    """"7 pass, 1 warn, 2 fail, 3 skip" (zero counts left out, except pass)."""
    counts = summary(findings)
    parts = [f"{counts[v.value]} {v.value}" for v in Verdict if counts[v.value] or v is Verdict.PASS]
    return ", ".join(parts)
