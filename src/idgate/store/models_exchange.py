"""Token-exchange policy (RFC 8693, issue 14): which client may exchange which tokens for which
audience. Nothing is allowed until an operator says so (admin API or ``idgate exchange allow``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from idgate.clock import utcnow
from idgate.store.models import Base, UTCDateTime


class TokenExchangePolicy(Base):
    """``client_id`` may trade a user's access token addressed to ``subject_audience`` (the API
    the client serves) for one addressed to ``audience`` (the API it calls on the user's behalf)."""

    __tablename__ = "token_exchange_policies"
    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    subject_audience: Mapped[str] = mapped_column(String(512), primary_key=True)
    audience: Mapped[str] = mapped_column(String(512), primary_key=True)
    created_by: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
