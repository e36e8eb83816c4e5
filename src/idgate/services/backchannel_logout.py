"""OpenID Connect Back-Channel Logout 1.0: when an idgate session ends (sign-out, a session
ended on the account page or by an admin, a user disabled), every app it signed in to that
registered a ``backchannel_logout_uri`` receives a logout token (§2.4) by a direct POST (§2.5).

* The logout token: ``typ: logout+jwt`` (§2.4, RFC 8417 style explicit typing, so it can never
  pass as an ID token), ``iss``, ``aud`` = client id, ``iat``, ``exp`` (2 minutes), ``jti``,
  ``events`` with the back-channel logout member, ``sub`` and ``sid`` - and never ``nonce``.
* Delivery (§2.5, §2.8): the logout only writes outbox rows; the server's background task
  POSTs them (``application/x-www-form-urlencoded``, ``logout_token=...``), with a timeout, no
  redirects followed, and retries with doubling back-off. The user's logout never waits for an
  app. Each token is signed when sent, so a retry carries a fresh ``iat``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import anyio
import httpx

from idgate import clock, events, ids
from idgate.jose import sign_jwt
from idgate.provider import Provider
from idgate.store import backchannel as outbox
from idgate.store.db import transaction

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYP = "logout+jwt"
LOGOUT_TOKEN_TTL = 120  # seconds: the RP checks iat/exp; a retry signs a new token
MAX_BACKOFF = 600
POLL_INTERVAL = 1.0
log = logging.getLogger("idgate.events")


def logout_token(provider: Provider, client_id: str, sub: str | None, sid: str | None, now: int) -> str:
    """§2.4: the logout token for one app."""
    claims: dict[str, Any] = {"iss": provider.settings.issuer, "aud": client_id, "iat": now,
                              "exp": now + LOGOUT_TOKEN_TTL, "jti": ids.jti(), "events": {LOGOUT_EVENT: {}}}
    if sub:
        claims["sub"] = sub
    if sid:
        claims["sid"] = sid
    return sign_jwt(claims, provider.keyring().active, LOGOUT_TOKEN_TYP)


def _backoff(provider: Provider, attempts: int) -> timedelta:
    return timedelta(seconds=min(MAX_BACKOFF, provider.settings.backchannel_logout_retry * 2 ** (attempts - 1)))


def _post(client: httpx.Client, uri: str, token: str) -> str | None:
    """§2.5-2.8: None when the app answered 200 (or 204); else what went wrong, briefly."""
    try:
        reply = client.post(uri, data={"logout_token": token}, headers={"Cache-Control": "no-store"})
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {str(exc)[:160]}"
    if reply.status_code in (200, 204):
        return None
    return f"HTTP {reply.status_code}"


def deliver_due(provider: Provider, client: httpx.Client | None = None) -> int:
    """Send what is due now; returns how many were delivered. Safe on several nodes at once:
    each row is leased to one caller while it is being sent."""
    settings = provider.settings
    now = clock.utcnow()
    lease = timedelta(seconds=2 * settings.backchannel_logout_timeout + 5)
    with transaction(provider.sessions) as session:
        due = [(r.id, r.client_id, r.uri, r.sub, r.sid, r.attempts) for r in outbox.claim_due(session, now, lease)]
    if not due:
        return 0
    own = client is None
    http = client or httpx.Client(timeout=settings.backchannel_logout_timeout, follow_redirects=False)
    delivered = 0
    try:
        for delivery_id, client_id, uri, sub, sid, attempts in due:
            error = _post(http, uri, logout_token(provider, client_id, sub, sid, clock.now()))
            tries = attempts + 1
            with transaction(provider.sessions) as session:
                if error is None:
                    delivered += 1
                    outbox.finish(session, delivery_id, status="delivered", attempts=tries, next_attempt_at=now,
                                  error=None)
                    events.record(None, "backchannel.delivered", "success", session=session, actor=sub,
                                  client_id=client_id, sid=sid, attempts=tries)
                elif tries >= settings.backchannel_logout_attempts:
                    outbox.finish(session, delivery_id, status="failed", attempts=tries, next_attempt_at=now,
                                  error=error)
                    events.record(None, "backchannel.failed", "failure", session=session, actor=sub,
                                  client_id=client_id, sid=sid, attempts=tries, error=error)
                else:
                    outbox.finish(session, delivery_id, status="pending", attempts=tries,
                                  next_attempt_at=clock.utcnow() + _backoff(provider, tries), error=error)
    finally:
        if own:
            http.close()
    return delivered


async def run_outbox(provider: Provider) -> None:
    """The server's background task: deliver due logout tokens about once a second, forever
    (cancelled at shutdown). A failure is logged and the loop goes on."""
    while True:
        await anyio.sleep(POLL_INTERVAL)
        try:
            await anyio.to_thread.run_sync(deliver_due, provider)
        except Exception as exc:  # a database hiccup must not end logout delivery for good
            log.warning('{"event": "backchannel_outbox_error", "error": %r}', type(exc).__name__)
