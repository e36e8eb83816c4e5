"""Tables for third-party apps (issue 4): clients, authorization codes, browser sessions.

Every bearer secret here (client secret, authorization code, session cookie, interaction id) is
stored only as its SHA-256 (``ids.token_hash``): each is 256 random bits, so a fast hash is
enough to make a stolen database useless for replay, and lookups stay one indexed read.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from idgate.clock import utcnow
from idgate.store.models import Base, UTCDateTime


class OAuthClient(Base):
    """A registered client (RFC 6749 §2, RFC 7591 metadata names)."""

    __tablename__ = "oauth_clients"
    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    # SHA-256 hex of the 256-bit secret; None for public and private_key_jwt clients.
    secret_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    # client_secret_basic | client_secret_post | private_key_jwt | none
    auth_method: Mapped[str] = mapped_column(String(32))
    grant_types: Mapped[str] = mapped_column(Text, default="")  # space-separated
    redirect_uris: Mapped[str] = mapped_column(Text, default="[]")  # JSON list, exact match
    post_logout_redirect_uris: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    scopes: Mapped[str] = mapped_column(Text, default="")  # space-separated
    audiences: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    jwks: Mapped[str | None] = mapped_column(Text, default=None)  # public keys for private_key_jwt
    introspect: Mapped[bool] = mapped_column(Boolean, default=False)  # may call POST /introspect
    skip_consent: Mapped[bool] = mapped_column(Boolean, default=False)  # first-party apps only
    access_token_ttl: Mapped[int | None] = mapped_column(Integer, default=None)
    refresh_token_ttl: Mapped[int | None] = mapped_column(Integer, default=None)
    # RFC 9449 §5.2: token requests without a DPoP proof are refused.
    dpop_bound_access_tokens: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Sign-ins for this client must use a passkey (acr "phr"); a password-only session is stepped up.
    require_passkey: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # OpenID Connect Back-Channel Logout 1.0 §2.2: where logout tokens go, and whether they carry sid.
    backchannel_logout_uri: Mapped[str | None] = mapped_column(Text, default=None)
    backchannel_logout_session_required: Mapped[bool] = mapped_column(Boolean, default=False,
                                                                      server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AuthorizationCode(Base):
    """An authorization code (RFC 6749 §4.1.2): single use, 60 s, bound to client, redirect URI
    and PKCE challenge. After use it remembers what it issued, so a replay revokes it."""

    __tablename__ = "oauth_codes"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text, default="")
    audience: Mapped[str] = mapped_column(Text, default="")
    nonce: Mapped[str | None] = mapped_column(Text, default=None)
    code_challenge: Mapped[str] = mapped_column(String(128))
    auth_time: Mapped[int] = mapped_column(Integer)
    amr: Mapped[str] = mapped_column(String(64), default="pwd")
    acr: Mapped[str] = mapped_column(String(64), default="1")
    sid: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    login_session_id: Mapped[str | None] = mapped_column(String(64), default=None)
    access_jti: Mapped[str | None] = mapped_column(String(128), default=None)
    access_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # RFC 9449 §10: the authorization request's dpop_jkt; the code is redeemable with that key only.
    dpop_jkt: Mapped[str | None] = mapped_column(String(64), default=None)


class BrowserSession(Base):
    """A browser's session with idgate's pages. The cookie holds a random id; only its hash is
    here. ``sid`` is a separate public id (ID token ``sid``, account page); ``user_id`` is None
    until the browser signs in, and the row is replaced (new id) at sign-in."""

    __tablename__ = "browser_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True,
                                                default=None)
    auth_time: Mapped[int | None] = mapped_column(Integer, default=None)
    amr: Mapped[str] = mapped_column(String(64), default="pwd")
    user_agent: Mapped[str | None] = mapped_column(String(256), default=None)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Interaction(Base):
    """An authorization request (or account sign-in) waiting for the user to sign in or consent;
    bound to the browser session that started it."""

    __tablename__ = "oauth_interactions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # authorize | account
    params: Mapped[str] = mapped_column(Text)  # the validated request, JSON
    login_done: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_done: Mapped[bool] = mapped_column(Boolean, default=False)
    # Password accepted, second factor still to come: whose, and since when (issue 5's TOTP).
    pending_user_id: Mapped[str | None] = mapped_column(String(64), default=None)
    pending_since: Mapped[int | None] = mapped_column(Integer, default=None)
    # What the pending user does next: "otp" (NULL too), or "enrol" / "enrolled" when a role
    # requires a second factor that is not set up yet (idgate.services.interaction_mfa).
    pending_step: Mapped[str | None] = mapped_column(String(16), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Consent(Base):
    """Scopes a user has allowed a client; asked again when a client wants more."""

    __tablename__ = "oauth_consents"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    scope: Mapped[str] = mapped_column(Text, default="")
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AssertionJti(Base):
    """``jti`` of private_key_jwt client assertions already used (RFC 7523 §3 item 7)."""

    __tablename__ = "oauth_assertion_jtis"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256(client_id + jti)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class SessionLink(Base):
    """Which browser session a client's refresh-token session came from (RP-initiated logout)."""

    __tablename__ = "oauth_session_links"
    login_session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"),
                                                  primary_key=True)
    browser_sid: Mapped[str] = mapped_column(String(64), index=True)
    client_id: Mapped[str] = mapped_column(String(128))
