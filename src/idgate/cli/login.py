"""``idgate login``: a small first-party client for POST /login (the password is prompted, never argv).

With ``--dpop`` the tokens are bound to a key this machine keeps (RFC 9449): the private key
lives in the user's config folder (``$XDG_CONFIG_HOME/idgate/dpop-key.pem``, mode 0600), made on
first use and reused after, so a token copied off this machine is useless elsewhere.
``idgate dpop proof METHOD URL --token T`` signs the proof each request to a service needs.
"""

from __future__ import annotations

import getpass
import json
import os
import ssl
import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from idgate.jose.dpop_key import DpopKey

DPOP_KEY_FILE = "dpop-key.pem"


def config_folder() -> Path:
    """The user's idgate config folder (XDG Base Directory: $XDG_CONFIG_HOME or ~/.config)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "idgate"


def dpop_key(create: bool = True) -> DpopKey:
    """This user's DPoP key: read, or made (ES256) and written with mode 0600 in a 0700 folder."""
    path = config_folder() / DPOP_KEY_FILE
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise typer.BadParameter(f"{path} is readable by others; run: chmod 600 {path}")
        return DpopKey.from_pem(path.read_bytes())
    if not create:
        raise typer.BadParameter(f"No DPoP key yet ({path}); run `idgate login --dpop` first.")
    key = DpopKey.generate()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # O_EXCL and the mode at creation: the key is never readable by others, not even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_pem())
    return key


def _post_login(client: httpx.Client, url: str, body: dict[str, str], key: DpopKey | None) -> httpx.Response:
    """POST /login; with a key, a fresh proof each try and one retry with the server's nonce (§8)."""
    nonce: str | None = None
    for _ in range(2):
        headers = {"DPoP": key.proof("POST", url, nonce=nonce)} if key is not None else {}
        reply = client.post(url, json=body, headers=headers)
        nonce = reply.headers.get("dpop-nonce")
        if key is None or nonce is None or _error(reply) != "use_dpop_nonce":
            return reply
    return reply


def _error(reply: httpx.Response) -> str | None:
    try:
        body: Any = reply.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


def login_command(
    username: Annotated[str | None, typer.Argument(help="User to log in as (not with --device).")] = None,
    issuer: Annotated[str, typer.Option(help="Issuer URL, e.g. https://localhost:8443.")] = "https://localhost:8443",
    ca: Annotated[Path | None, typer.Option(help="CA bundle for the issuer's certificate (DATA/tls/ca.pem).")] = None,
    scope: Annotated[str | None, typer.Option(help="Space-separated scopes to ask for.")] = None,
    audience: Annotated[str | None, typer.Option(help="Audience (resource server) to ask for.")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
    otp: Annotated[str | None, typer.Option("--otp", help="The one-time code of your authenticator app (asked "
                                                          "for when the account has one and this is not given).")] = None,
    dpop: Annotated[bool, typer.Option("--dpop", help="Bind the tokens to this machine's DPoP key (RFC 9449), "
                                                      "kept in ~/.config/idgate/dpop-key.pem.")] = False,
    token_only: Annotated[bool, typer.Option("--token-only", help="Print only the access token.")] = False,
    device: Annotated[bool, typer.Option("--device", help="Sign in through a browser instead (RFC 8628 device "
                                                          "flow): works with authenticator apps and passkeys.")] = False,
    client_id: Annotated[str, typer.Option("--client-id", help="The public client with the device grant "
                                                               "(--device).")] = "idgate-cli",
) -> None:
    """Log in and print the token response."""
    if device:
        from idgate.cli.device_login import device_login

        verify = ssl.create_default_context(cafile=str(ca)) if ca else ssl.create_default_context()
        with httpx.Client(verify=verify, timeout=10.0) as client:
            data = device_login(client, issuer, client_id, scope=scope, audience=audience)
        typer.echo(data["access_token"] if token_only else json.dumps(data, indent=2))
        return
    if username is None:
        raise typer.BadParameter("Give the username to log in as, or --device to sign in through a browser.")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"Password for {username}: ")
    body = {"username": username, "password": password}
    if scope:
        body["scope"] = scope
    if audience:
        body["audience"] = audience
    if otp:
        body["otp"] = otp
    key = dpop_key() if dpop else None
    verify = ssl.create_default_context(cafile=str(ca)) if ca else ssl.create_default_context()
    with httpx.Client(verify=verify, timeout=10.0) as client:
        discovery = client.get(issuer.rstrip("/") + "/.well-known/openid-configuration").json()
        url = discovery["idgate_login_endpoint"]
        reply = _post_login(client, url, body, key)
        if reply.status_code == 401 and _error(reply) == "mfa_required" and not otp:
            if not sys.stdin.isatty() and password_stdin:
                # The password came on stdin: the code is the next line.
                body["otp"] = sys.stdin.readline().strip()
            else:
                body["otp"] = typer.prompt("One-time code", hide_input=False).strip()
            reply = _post_login(client, url, body, key)
    if reply.status_code != 200:
        typer.echo(f"login failed ({reply.status_code}): {reply.text}", err=True)
        raise typer.Exit(1)
    data = reply.json()
    typer.echo(data["access_token"] if token_only else json.dumps(data, indent=2))


dpop_app = typer.Typer(no_args_is_help=True)


@dpop_app.command("proof")
def proof_command(
    method: Annotated[str, typer.Argument(help="HTTP method of the request, e.g. GET.")],
    url: Annotated[str, typer.Argument(help="The request URL (its query is not signed, RFC 9449 §4.2).")],
    token: Annotated[str | None, typer.Option(help="The DPoP-bound access token the request carries (ath).")] = None,
    nonce: Annotated[str | None, typer.Option(help="A DPoP-Nonce the server asked for.")] = None,
) -> None:
    """Print a DPoP proof for one request, made with the key of `idgate login --dpop`:

    curl -H "Authorization: DPoP $TOKEN" -H "DPoP: $(idgate dpop proof GET URL --token $TOKEN)" URL
    """
    typer.echo(dpop_key(create=False).proof(method.upper(), url, access_token=token, nonce=nonce))


@dpop_app.command("key")
def key_command() -> None:
    """Show where this user's DPoP key is and its thumbprint (the tokens' cnf.jkt)."""
    key = dpop_key(create=False)
    typer.echo(f"{config_folder() / DPOP_KEY_FILE}\njkt {key.jkt}")
