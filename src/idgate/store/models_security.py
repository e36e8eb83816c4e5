"""Tables for issue 5: account lockouts, TOTP second factors, recovery codes, per-role MFA.

Imported by Alembic's env (every ``idgate/store/models*.py``) and by the modules that use them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idgate.clock import utcnow
from idgate.store.models import Base, Event, UTCDateTime


class AccountLockout(Base):
    """An account that reached the consecutive-failure limit (NIST SP 800-63B §5.2.2).

    Keyed by the normalised username that was tried, whether or not such a user exists, so a
    locked unknown name answers exactly like a locked real one. Removed by an admin unlock.
    """

    __tablename__ = "account_lockouts"
    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    locked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class TotpFactor(Base):
    """A user's TOTP secret, AES-256-GCM sealed under a key derived from the key-encryption key
    (never stored in the database). ``last_used_step`` makes every code single-use."""

    __tablename__ = "mfa_totp"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    secret_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # None until the user has proved the authenticator works with a first code.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_used_step: Mapped[int | None] = mapped_column(BigInteger, default=None)


class RecoveryCode(Base):
    """One single-use recovery code, stored only as HMAC-SHA256 under a KEK-derived key."""

    __tablename__ = "mfa_recovery_codes"
    __table_args__ = (UniqueConstraint("user_id", "code_hash", name="uq_mfa_recovery_user_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class RoleSecurity(Base):
    """Per-role security settings set through the admin API (``require_mfa``)."""

    __tablename__ = "role_security"
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)
    require_mfa: Mapped[bool] = mapped_column(Boolean, default=False)


# `idgate events search --actor` and the admin API filter on the actor.
Index("ix_events_actor", Event.actor)
