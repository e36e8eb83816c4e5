"""Helpers for the issue-4 tests: clients, PKCE, and driving the browser pages without a browser."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from idgate.provider import Provider
from idgate.services.clients.metadata import ClientSpec
from idgate.services.clients.registry import add_client
from idgate.services.clients.view import ClientView

from support import GOOD_PASSWORD

REDIRECT = "https://app.example/callback"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def register(provider: Provider, client_id: str = "webapp", **kw: Any) -> tuple[ClientView, str | None]:
    spec = ClientSpec(client_id=client_id,
                      grant_types=kw.pop("grant_types", ["authorization_code", "refresh_token"]),
                      redirect_uris=kw.pop("redirect_uris", [REDIRECT]),
                      scopes=kw.pop("scopes", ["openid profile email things:read"]), **kw)
    return add_client(provider.sessions, spec)


def auth_params(client_id: str = "webapp", challenge: str | None = None, **extra: str) -> dict[str, str]:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
              "scope": "openid profile things:read", "state": "st-" + secrets.token_hex(4),
              "nonce": "n-" + secrets.token_hex(4), "code_challenge_method": "S256"}
    if challenge is not None:
        params["code_challenge"] = challenge
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, html[:500]
    return found.group(1)


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def sign_in_and_consent(http: Any, params: dict[str, str], *, username: str = "alice",
                        password: str = GOOD_PASSWORD, consent: str | None = "allow") -> Any:
    """GET /authorize -> login page -> POST login -> (consent) -> the 303 to the client."""
    reply = http.get("/authorize?" + urlencode(params), follow_redirects=False)
    assert reply.status_code == 303, reply.text
    location = reply.headers["location"]
    if not location.startswith("/interaction/"):
        return reply
    page = http.get(location)
    if 'name="password"' in page.text:
        reply = http.post(location + "/login", data={"csrf_token": csrf_of(page.text), "username": username,
                                                     "password": password}, follow_redirects=False)
        assert reply.status_code == 303, reply.text
        reply = http.get(reply.headers["location"], follow_redirects=False)
        if reply.status_code == 303:
            return reply
        page = reply
    assert 'value="allow"' in page.text, page.text
    if consent is None:
        return page
    reply = http.post(location + "/consent", data={"csrf_token": csrf_of(page.text), "decision": consent},
                      follow_redirects=False)
    if reply.status_code == 303 and reply.headers["location"].startswith("/interaction/"):
        reply = http.get(reply.headers["location"], follow_redirects=False)
    return reply


def code_flow(http: Any, client_id: str = "webapp", **extra: str) -> tuple[dict[str, str], str, dict[str, str]]:
    """Returns (authorization response params, code_verifier, request params)."""
    verifier, challenge = pkce()
    params = auth_params(client_id, challenge, **extra)
    reply = sign_in_and_consent(http, params)
    assert reply.status_code == 303, reply.text
    assert reply.headers["location"].startswith(REDIRECT), reply.headers["location"]
    return query_of(reply.headers["location"]), verifier, params


def redeem(http: Any, code: str, verifier: str, *, client_id: str = "webapp", secret: str | None = None,
           **extra: str) -> Any:
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier, "redirect_uri": REDIRECT,
            **extra}
    if secret is None:
        data["client_id"] = client_id
        return http.post("/token", data=data)
    return http.post("/token", data=data, auth=(client_id, secret))
