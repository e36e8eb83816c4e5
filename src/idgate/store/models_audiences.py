"""Registered resource servers (audiences), optionally with a public encryption key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idgate.clock import utcnow
from idgate.store.models import Base, UTCDateTime


class ResourceServer(Base):
    __tablename__ = "resource_servers"
    audience: Mapped[str] = mapped_column(String(512), primary_key=True)
    # Public JWK (JSON) that tokens for this audience are encrypted to; None = signed only.
    encryption_jwk: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
