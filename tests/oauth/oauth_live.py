"""A real `idgate serve` with alice and registered clients, plus a loopback "app" that records
what arrives at its redirect URI (for the Authlib, openid-client and browser tests)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from idgate.config.loading import load_settings
from idgate.provider import Provider
from idgate.services import accounts
from idgate.services.clients.metadata import ClientSpec
from idgate.services.clients.registry import add_client

from oauth_support import csrf_of
from support import GOOD_PASSWORD, Deployment, LiveServer, init_deployment_fast, start_server, stop_server

REDIRECT = "https://rp.example/cb"
LOGOUT = "https://rp.example/bye"


@dataclass
class App:
    """The client's side: a loopback HTTP server recording each request to /callback."""

    base: str
    hits: list[dict[str, str]] = field(default_factory=list)
    pages: dict[str, str] = field(default_factory=dict)

    @property
    def redirect_uri(self) -> str:
        return self.base + "/callback"


@contextmanager
def loopback_app() -> Iterator[App]:
    app = App(base="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            if parts.path == "/callback":
                app.hits.append({k: v[0] for k, v in parse_qs(parts.query).items()})
                body = b"<!doctype html><title>App</title><h1>Back at the app</h1>"
            else:
                body = app.pages.get(parts.path, "not found").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    app.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def prepare(data: Path) -> Deployment:
    deployment = init_deployment_fast(data)
    provider = Provider(load_settings(deployment.data))
    try:
        accounts.add_user(provider.sessions, "alice", GOOD_PASSWORD, permissions=["things:read"],
                          email="alice@example.com", name="Alice Liddell")
    finally:
        provider.close()
    return deployment


def allow_exchange(deployment: Deployment, client_id: str, subject_audience: str, audience: str) -> None:
    """Register the audiences and let ``client_id`` exchange tokens into it (RFC 8693). The
    subject audience too: this process reads the config file, whose issuer is not the live
    server's (that one comes from IDGATE_ISSUER)."""
    from idgate.services import audiences, token_exchange
    from idgate.services.issuance import allowed_audiences

    provider = Provider(load_settings(deployment.data))
    try:
        for aud in (subject_audience, audience):
            if aud not in allowed_audiences(provider):
                audiences.add(provider.sessions, aud)
        token_exchange.allow(provider, client_id, subject_audience, audience, actor="test")
    finally:
        provider.close()


def register_client(deployment: Deployment, spec: ClientSpec) -> str | None:
    provider = Provider(load_settings(deployment.data))
    try:
        return add_client(provider.sessions, spec)[1]
    finally:
        provider.close()


@contextmanager
def live(data: Path) -> Iterator[LiveServer]:
    server = start_server(prepare(data))
    try:
        yield server
    finally:
        stop_server(server)


def browser_sign_in(server: LiveServer, url: str, browser: httpx.Client | None = None) -> str:
    """What a user's browser does: follow the link, submit the login form, allow, and arrive
    at the redirect URI (returned, not fetched). ``browser``: keep its cookies (sign out later)."""
    with contextlib.nullcontext(browser) if browser is not None else server.client(follow_redirects=False) as browser:
        reply = browser.get(url)
        assert reply.status_code == 303
        interaction = reply.headers["location"]
        page = browser.get(interaction)
        assert 'autocomplete="current-password"' in page.text
        reply = browser.post(interaction + "/login", data={"csrf_token": csrf_of(page.text), "username": "alice",
                                                          "password": GOOD_PASSWORD})
        consent = browser.get(reply.headers["location"])
        reply = browser.post(interaction + "/consent", data={"csrf_token": csrf_of(consent.text), "decision": "allow"})
        reply = browser.get(reply.headers["location"])
        assert reply.status_code == 303 and reply.headers["location"].startswith(REDIRECT)
        return reply.headers["location"]


def approve_device(server: LiveServer, url: str, decision: str = "allow") -> str:
    """What the user does on another device (RFC 8628 §3.3): open verification_uri_complete, sign
    in, and allow (or deny) on the confirmation page; returns the page's answer."""
    with server.client(follow_redirects=True) as browser:
        page = browser.get(url)
        assert 'autocomplete="current-password"' in page.text, page.text[:300]
        interaction = str(page.url.path)
        page = browser.post(interaction + "/login", data={"csrf_token": csrf_of(page.text), "username": "alice",
                                                         "password": GOOD_PASSWORD})
        assert "Allow this device?" in page.text, page.text[:300]
        code = page.text.split('name="user_code" value="', 1)[1].split('"', 1)[0]
        done = browser.post("/device/confirm", data={"csrf_token": csrf_of(page.text), "user_code": code,
                                                     "decision": decision})
        assert done.status_code == 200, done.text
        return done.text
