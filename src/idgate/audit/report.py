"""Rendering findings: terminal text (rich), JSON, markdown and a one-page HTML report card.

JSON schema ``idgate-audit/1`` (stable: fields are only ever added, never renamed or removed)::

    {
      "schema": "idgate-audit/1",
      "target": "https://idp.example",          # the audited URL
      "generated_at": "2025-01-31T12:00:00Z",    # UTC, ISO 8601
      "tool": "idgate 0.1.0",
      "summary": {"pass": 19, "warn": 1, "fail": 2, "skip": 6},
      "ok": false,                               # true when nothing failed (exit status 0)
      "findings": [
        {
          "check_id": "tls.min-version",         # stable id, lower-case, dotted
          "group": "transport",                  # transport | credentials | keys | tokens |
                                                 # active | browser | local
          "verdict": "fail",                     # pass | warn | fail | skip
          "title": "Old TLS versions 1.0 and 1.1 are refused",
          "evidence": "TLS 1.0 accepted (ECDHE-RSA-AES256-SHA); ...",   # what was sent and seen;
                                                 # for skip, the reason
          "explanation": "...",                  # why it matters, for a newcomer
          "fix": "..."                           # what to do
        }
      ]
    }
"""

from __future__ import annotations

import html
import io
import json
import textwrap
from datetime import UTC, datetime

from rich.console import Console
from rich.text import Text

from idgate import __version__
from idgate.audit.model import Finding, Verdict, summary, summary_line
from idgate.audit.registry import GROUPS

SCHEMA = "idgate-audit/1"
FORMATS = ("text", "json", "markdown", "html")
_STYLE = {Verdict.PASS: "bold green", Verdict.WARN: "bold yellow", Verdict.FAIL: "bold red", Verdict.SKIP: "dim"}
_COLOUR = {Verdict.PASS: "#1a7f37", Verdict.WARN: "#9a6700", Verdict.FAIL: "#cf222e", Verdict.SKIP: "#6e7781"}


def ok(findings: list[Finding]) -> bool:
    return not any(f.verdict is Verdict.FAIL for f in findings)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _grouped(findings: list[Finding]) -> list[tuple[str, list[Finding]]]:
    return [(title, [f for f in findings if f.group == key]) for key, title in GROUPS.items()
            if any(f.group == key for f in findings)]


def headline(findings: list[Finding]) -> str:
    counts = summary(findings)
    if counts["fail"]:
        return f"Not yet secure: {counts['fail']} check(s) failed."
    if counts["warn"]:
        return f"No failures; {counts['warn']} warning(s) worth a look."
    return "Everything checked passed."


def render(findings: list[Finding], target: str, fmt: str, *, colour: bool | None = None, width: int = 100) -> str:
    if fmt == "json":
        return render_json(findings, target)
    if fmt == "markdown":
        return render_markdown(findings, target)
    if fmt == "html":
        return render_html(findings, target)
    return render_text(findings, target, colour=colour, width=width)


def render_json(findings: list[Finding], target: str) -> str:
    doc = {"schema": SCHEMA, "target": target, "generated_at": _now(), "tool": f"idgate {__version__}",
           "summary": summary(findings), "ok": ok(findings),
           "findings": [{"check_id": f.check_id, "group": f.group, "verdict": f.verdict.value, "title": f.title,
                         "evidence": f.evidence, "explanation": f.explanation, "fix": f.fix} for f in findings]}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render_text(findings: list[Finding], target: str, *, colour: bool | None = None, width: int = 100) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=colour, no_color=colour is False, width=width,
                      highlight=False, soft_wrap=False)
    console.print(Text(f"idgate audit of {target}", style="bold"))
    for title, items in _grouped(findings):
        console.print()
        console.print(Text(title, style="bold underline"))
        for f in items:
            line = Text()
            line.append(f"{f.verdict.value.upper():<4}", style=_STYLE[f.verdict])
            line.append(f"  {f.check_id:<26} ", style="cyan")
            line.append(f.title)
            console.print(line)
            quiet = f.verdict in (Verdict.PASS, Verdict.SKIP)
            console.print(_indented(f.evidence, width), style="dim" if quiet else "")
            if not quiet:
                console.print(_indented("Why: " + f.explanation, width))
                console.print(_indented("Fix: " + f.fix, width))
    console.print()
    counts = summary(findings)
    style = "bold red" if counts["fail"] else "bold yellow" if counts["warn"] else "bold green"
    console.print(Text(summary_line(findings), style=style), Text(f"  {headline(findings)}"))
    return buffer.getvalue()


def _indented(text: str, width: int) -> Text:
    return Text(textwrap.fill(text, width=width - 1, initial_indent=" " * 6, subsequent_indent=" " * 6,
                              break_long_words=False, break_on_hyphens=False))


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(findings: list[Finding], target: str) -> str:
    icon = {Verdict.PASS: "✅ PASS", Verdict.WARN: "⚠️ WARN", Verdict.FAIL: "❌ FAIL", Verdict.SKIP: "⏭️ SKIP"}
    out = [f"# idgate audit of {target}", "", f"**{summary_line(findings)}** — {headline(findings)}", "",
           f"_Generated {_now()} by idgate {__version__}._", ""]
    for title, items in _grouped(findings):
        out += [f"## {title}", "", "| verdict | check | what was checked | evidence |", "|---|---|---|---|"]
        out += [f"| {icon[f.verdict]} | `{f.check_id}` | {_md(f.title)} | {_md(f.evidence)} |" for f in items]
        out.append("")
    problems = [f for f in findings if f.verdict in (Verdict.FAIL, Verdict.WARN)]
    if problems:
        out += ["## What to fix", ""]
        for f in problems:
            out += [f"### {icon[f.verdict]} `{f.check_id}` — {f.title}", "", f"**Seen:** {f.evidence}", "",
                    f"**Why it matters:** {f.explanation}", "", f"**Fix:** {f.fix}", ""]
    return "\n".join(out)


_CSS = """
:root{--pass:#1a7f37;--warn:#9a6700;--fail:#cf222e;--skip:#6e7781;--ink:#1f2328;--muted:#59636e;--line:#d1d9e0}
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--ink);background:#f6f8fa}
main{max-width:960px;margin:0 auto;padding:32px 20px 48px}
header.card{background:#fff;border:1px solid var(--line);border-radius:12px;padding:24px 28px;margin-bottom:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 10px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.target{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;color:var(--muted);word-break:break-all}
.headline{font-size:20px;font-weight:600;margin:16px 0 12px}
.chips{display:flex;gap:10px;flex-wrap:wrap}.chip{border-radius:999px;padding:4px 14px;font-weight:600;color:#fff}
.chip.pass{background:var(--pass)}.chip.warn{background:var(--warn)}.chip.fail{background:var(--fail)}.chip.skip{background:var(--skip)}
.finding{background:#fff;border:1px solid var(--line);border-left:6px solid var(--skip);border-radius:8px;padding:12px 16px;margin:8px 0}
.finding.pass{border-left-color:var(--pass)}.finding.warn{border-left-color:var(--warn)}.finding.fail{border-left-color:var(--fail)}
.row{display:flex;gap:12px;align-items:baseline;flex-wrap:wrap}.badge{font-size:12px;font-weight:700;color:#fff;border-radius:4px;padding:1px 8px}
.badge.pass{background:var(--pass)}.badge.warn{background:var(--warn)}.badge.fail{background:var(--fail)}.badge.skip{background:var(--skip)}
.id{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px;color:var(--muted)}.title{font-weight:600}
.evidence{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px;background:#f6f8fa;border-radius:6px;padding:6px 10px;margin:8px 0 0;white-space:pre-wrap;word-break:break-word}
details{margin-top:8px}summary{cursor:pointer;color:var(--muted)}.why,.fix{margin:6px 0 0}.fix{font-weight:500}
.glances{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:8px;margin-top:18px}
.glance{display:flex;justify-content:space-between;gap:8px;padding:8px 12px;border-radius:8px;border:1px solid var(--line);color:var(--ink);text-decoration:none;border-left:6px solid var(--skip)}
.glance.pass{border-left-color:var(--pass)}.glance.warn{border-left-color:var(--warn)}.glance.fail{border-left-color:var(--fail)}
footer{color:var(--muted);font-size:13px;margin-top:32px}
@media print{body{background:#fff}.finding,header.card{break-inside:avoid}}
"""


def _score(items: list[Finding]) -> str:
    checked = sum(f.verdict is not Verdict.SKIP for f in items)
    return f"{sum(f.verdict is Verdict.PASS for f in items)}/{checked}" if checked else "skipped"


def _worst(items: list[Finding]) -> str:
    for verdict in (Verdict.FAIL, Verdict.WARN, Verdict.PASS):
        if any(f.verdict is verdict for f in items):
            return verdict.value
    return Verdict.SKIP.value


def render_html(findings: list[Finding], target: str) -> str:
    e = html.escape
    counts = summary(findings)
    chips = "".join(f'<span class="chip {v.value}">{counts[v.value]} {v.value}</span>' for v in Verdict)
    glance = "".join(
        f'<a class="glance {_worst(items)}" href="#{e(key)}" title="passed / checked"><span>{e(GROUPS[key])}</span>'
        f"<b>{_score(items)}</b></a>"
        for key, items in ((k, [f for f in findings if f.group == k]) for k in GROUPS) if items)
    sections = []
    for title, items in _grouped(findings):
        cards = []
        for f in items:
            v = f.verdict.value
            details = (f'<p class="why"><strong>Why it matters:</strong> {e(f.explanation)}</p>'
                       f'<p class="fix"><strong>Fix:</strong> {e(f.fix)}</p>')
            opened = " open" if f.verdict in (Verdict.FAIL, Verdict.WARN) else ""
            cards.append(
                f'<article class="finding {v}"><div class="row"><span class="badge {v}">{v.upper()}</span>'
                f'<span class="title">{e(f.title)}</span><span class="id">{e(f.check_id)}</span></div>'
                f'<div class="evidence">{e(f.evidence)}</div>'
                f'<details{opened}><summary>Why it matters and how to fix it</summary>{details}</details></article>')
        key = items[0].group
        sections.append(f'<section id="{e(key)}"><h2>{e(title)}</h2>{"".join(cards)}</section>')
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>idgate audit: {e(target)}</title><style>{_CSS}</style></head><body><main>"
        f'<header class="card"><h1>Security report card</h1><div class="target">{e(target)}</div>'
        f'<div class="headline">{e(headline(findings))}</div><div class="chips">{chips}</div>'
        f'<div class="glances">{glance}</div></header>'
        f"{''.join(sections)}"
        f"<footer>Generated {e(_now())} by idgate {e(__version__)} · exit status {0 if ok(findings) else 1}"
        " · every check's id is stable: list them with <code>idgate audit --list-checks</code></footer>"
        "</main></body></html>\n"
    )
