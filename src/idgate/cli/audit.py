"""``idgate audit URL``: a report card for any OpenID Connect / OAuth / JWT deployment."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from idgate.audit import AuditOptions, audit
from idgate.audit.runner import all_checks
from idgate.audit.report import FORMATS, ok, render


def _secret(value: str | None, what: str) -> str | None:
    """'-' reads the value from stdin (keeps it out of argv, ps and shell history)."""
    if value != "-":
        return value
    line = sys.stdin.readline().strip()
    if not line:
        raise typer.BadParameter(f"no {what} on standard input")
    return line


def audit_command(
    url: Annotated[str, typer.Argument(help="The provider's https:// URL (its issuer), or its discovery document URL.")] = "",
    ca: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="Also trust this CA (PEM), e.g. DATA/tls/ca.pem. System roots stay trusted.")] = None,
    token: Annotated[str | None, typer.Option(envvar="IDGATE_AUDIT_TOKEN", help="A genuine access token to examine (- reads stdin).")] = None,
    client_id: Annotated[str | None, typer.Option(help="Obtain a sample token by client credentials with this client.")] = None,
    client_secret: Annotated[str | None, typer.Option(envvar="IDGATE_AUDIT_CLIENT_SECRET", help="Client secret (- reads stdin; or IDGATE_AUDIT_CLIENT_SECRET).")] = None,
    active: Annotated[bool, typer.Option("--active", help="Send forged tokens (alg none, HS256 with the public key, embedded jwk...) to a protected endpoint.")] = False,
    protected_url: Annotated[str | None, typer.Option(help="Endpoint the active probes target (default: userinfo_endpoint).")] = None,
    expired_token: Annotated[str | None, typer.Option(help="A genuine token that has expired, for probe.expired.")] = None,
    wrong_audience_token: Annotated[str | None, typer.Option(help="A genuine token for another audience, for probe.wrong-audience.")] = None,
    login_page: Annotated[str | None, typer.Option(help="HTML login page to check (default: authorization_endpoint).")] = None,
    http_url: Annotated[str | None, typer.Option(help="Plain-HTTP address to check (default: http://HOST:80).")] = None,
    data: Annotated[Path | None, typer.Option("--data", exists=True, file_okay=False, help="An idgate data folder on this machine: also check files, hashes and keys.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text, json, markdown or html.")] = "text",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report to this file instead of stdout.")] = None,
    timeout: Annotated[float, typer.Option(min=0.5, max=120, help="Seconds allowed for each connection or request.")] = 5.0,
    list_checks: Annotated[bool, typer.Option("--list-checks", help="List every check id and exit.")] = False,
) -> None:
    """Audit any OIDC/OAuth/JWT provider and print a report card; exit status 1 if a check FAILs.

    Checks transport (TLS, HSTS), credential endpoints, discovery and keys, a sample token,
    forged-token probes (--active), the login page and, with --data, idgate's own files.
    """
    if list_checks:
        for item in all_checks():
            typer.echo(f"{item.id:<26} {item.group:<12} {item.title}")
        return
    if not url:
        raise typer.BadParameter("give the URL to audit, e.g. idgate audit https://localhost:8443 --ca .idgate/tls/ca.pem")
    if fmt not in FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}")
    options = AuditOptions(url=url, ca=ca, token=_secret(token, "token"), client_id=client_id,
                           client_secret=_secret(client_secret, "client secret"), active=active,
                           protected_url=protected_url, expired_token=expired_token,
                           wrong_audience_token=wrong_audience_token, login_page=login_page, http_url=http_url,
                           data=data, timeout=timeout)
    findings = audit(options)
    colour = None if output is None and fmt == "text" else False
    text = render(findings, url, fmt, colour=colour, width=_width())
    if output is not None:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)
    else:
        typer.echo(text, nl=False)
    # sys.exit, not typer.Exit: the status must survive main()'s standalone_mode=False.
    sys.exit(0 if ok(findings) else 1)


def _width() -> int:
    try:
        return max(80, min(os.get_terminal_size().columns, 140))
    except OSError:
        return 100
