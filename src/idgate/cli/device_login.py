"""``idgate login --device``: sign this command line in through a browser (RFC 8628), so an
account with an authenticator app or a passkey - anything the browser sign-in asks for - can
use the CLI. It needs a registered public client with the device grant, for example::

    idgate client add idgate-cli --public --grant urn:ietf:params:oauth:grant-type:device_code \\
        --grant refresh_token --scope "openid profile"
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import typer

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
MAX_WAIT = 900.0  # seconds; the device code lives 600


def device_login(client: httpx.Client, issuer: str, client_id: str, *, scope: str | None, audience: str | None,
                 say: Callable[[str], None] = lambda text: typer.echo(text, err=True),
                 sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Ask for a code pair, tell the user where to go, poll until the token response (§3.4-3.5)."""
    discovery = client.get(issuer.rstrip("/") + "/.well-known/openid-configuration").json()
    endpoint = discovery.get("device_authorization_endpoint")
    if not endpoint:
        raise typer.BadParameter(f"{issuer} does not offer the device flow (no device_authorization_endpoint).")
    form = {"client_id": client_id, **({"scope": scope} if scope else {}), **({"resource": audience} if audience else {})}
    started = client.post(endpoint, data=form)
    if started.status_code != 200:
        typer.echo(f"device sign-in refused ({started.status_code}): {started.text}", err=True)
        raise typer.Exit(1)
    start = started.json()
    say(f"To sign in, open {start['verification_uri']} and enter the code {start['user_code']}")
    say(f"(or open {start['verification_uri_complete']})")
    interval = float(start.get("interval", 5))
    deadline = time.monotonic() + min(float(start.get("expires_in", 600)), MAX_WAIT)
    while time.monotonic() < deadline:
        sleep(interval)
        reply = client.post(discovery["token_endpoint"], data={"grant_type": DEVICE_GRANT, "client_id": client_id,
                                                               "device_code": start["device_code"]})
        if reply.status_code == 200:
            return dict(reply.json())
        error = _error(reply)
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5
            continue
        typer.echo(f"device sign-in ended: {error or reply.status_code}: {json.dumps(_body(reply))}", err=True)
        raise typer.Exit(1)
    typer.echo("device sign-in timed out: the code expired before it was approved", err=True)
    raise typer.Exit(1)


def _body(reply: httpx.Response) -> Any:
    try:
        return reply.json()
    except ValueError:
        return reply.text[:200]


def _error(reply: httpx.Response) -> str | None:
    body = _body(reply)
    return body.get("error") if isinstance(body, dict) else None
