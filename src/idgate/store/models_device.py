"""Device authorizations (RFC 8628, issue 14): a TV or a CLI asks, the user approves in a browser.

The device code is a 256-bit bearer secret, stored as its SHA-256 like every other; the user
code is short (typed by a person), so it is stored normalised and is only ever looked up by a
signed-in user under the throttle.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idgate.clock import utcnow
from idgate.store.models import Base, UTCDateTime


class DeviceAuthorization(Base):
    __tablename__ = "device_authorizations"
    device_code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_code: Mapped[str] = mapped_column(String(16), unique=True)  # normalised: 8 letters, no dash
    client_id: Mapped[str] = mapped_column(String(128), index=True)
    scope: Mapped[str] = mapped_column(Text, default="")
    audience: Mapped[str] = mapped_column(Text, default="")
    # pending -> approved | denied -> used (tokens issued once)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    interval: Mapped[int] = mapped_column(Integer, default=5)  # seconds; grows with slow_down
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    user_id: Mapped[str | None] = mapped_column(String(64), default=None)
    auth_time: Mapped[int | None] = mapped_column(Integer, default=None)
    amr: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
