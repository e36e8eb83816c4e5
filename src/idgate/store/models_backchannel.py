"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0, issue 14): which apps a browser
session signed in to, and the logout tokens still to deliver.

Deliveries are an outbox: a logout writes rows in its own transaction and returns at once; the
server's background task POSTs them with a timeout and retries with back-off, so a slow or
dead app never holds up the user's logout and a restart loses nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idgate.clock import utcnow
from idgate.store.models import Base, UTCDateTime


class SessionClient(Base):
    """The app ``client_id`` got an ID token with ``sid`` = ``browser_sid`` (§2.1: the RP
    session to end when that idgate session ends)."""

    __tablename__ = "oauth_session_clients"
    browser_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LogoutDelivery(Base):
    """One logout token to POST to one app: signed when sent (a fresh ``iat`` on each try)."""

    __tablename__ = "backchannel_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(128), index=True)
    uri: Mapped[str] = mapped_column(Text)
    sub: Mapped[str | None] = mapped_column(String(64), default=None)
    sid: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(String(256), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
