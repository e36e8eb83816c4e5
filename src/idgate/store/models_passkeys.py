"""Tables for passkeys (issue 13, W3C WebAuthn Level 3): registered credentials and the
single-use challenges of their ceremonies.

A credential row holds only public data (the COSE public key, the credential id, counters and
flags): a stolen database lets nobody sign in. A challenge is stored as its SHA-256, bound to
the browser session (and the sign-in interaction) that asked for it, so any node of a
multi-node deployment can answer the ceremony's second request.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idgate.clock import utcnow
from idgate.store.models import Base, UTCDateTime


class Passkey(Base):
    """A WebAuthn credential registered by a user (WebAuthn §7.1 step 27: "credential record")."""

    __tablename__ = "passkeys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # ours: "pk_" + random, shown to users
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The authenticator's credential id (up to 1023 bytes, WebAuthn §5.1); unique across users.
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE_Key, as the authenticator gave it
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    aaguid: Mapped[str] = mapped_column(String(36), default="00000000-0000-0000-0000-000000000000")
    transports: Mapped[str] = mapped_column(Text, default="")  # space-separated hints for allowCredentials
    backup_eligible: Mapped[bool] = mapped_column(Boolean, default=False)  # BE flag: a synced passkey
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)  # BS flag, as last seen
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class WebauthnChallenge(Base):
    """An outstanding ceremony challenge (WebAuthn §13.4.3): random, single use (deleted when a
    response names it, whatever the verdict), expiring, and bound to who asked for it."""

    __tablename__ = "webauthn_challenges"
    challenge_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))  # register | passwordless | second_factor
    session_hash: Mapped[str] = mapped_column(String(64), index=True)  # the browser session
    interaction_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    user_id: Mapped[str | None] = mapped_column(String(64), default=None)  # register, second_factor
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


Index("ix_webauthn_challenges_expires", WebauthnChallenge.expires_at)
