"""Time, injected: every time-dependent rule takes a ``now`` so tests pin the clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> int:
    """Seconds since the epoch, as the NumericDate of RFC 7519 §2."""
    return int(time.time())


def utcnow() -> datetime:
    return datetime.now(UTC)


def from_timestamp(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
