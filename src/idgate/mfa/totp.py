"""TOTP (RFC 6238): SHA-1, 6 digits, 30-second steps - what every authenticator app supports."""

from __future__ import annotations

import hmac
import io
from urllib.parse import quote

import pyotp
import segno

STEP_SECONDS = 30
DIGITS = 6
WINDOW = 1  # steps accepted either side of the current one (RFC 6238 §5.2: at most one is advised)
SECRET_CHARS = 32  # base32 characters: 160 bits


def new_secret() -> str:
    return pyotp.random_base32(SECRET_CHARS)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer)


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def current_step(now: float) -> int:
    return int(now) // STEP_SECONDS


def looks_like_totp(code: str) -> bool:
    return len(code) == DIGITS and code.isascii() and code.isdigit()


def match(secret: str, code: str, now: float, last_used_step: int | None) -> tuple[int | None, bool]:
    """``(step, replay)``: the step the code belongs to if it is fresh; ``replay`` if it matches a
    step that was already used."""
    if not looks_like_totp(code):
        return None, False
    replay = False
    current = current_step(now)
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(code_at(secret, step), code):
            if last_used_step is not None and step <= last_used_step:
                replay = True
                continue
            return step, False
    return None, replay


def qr_svg(uri: str) -> str:
    """The otpauth URI as a QR code, an SVG document (no external resources)."""
    buf = io.BytesIO()
    segno.make(uri, error="m").save(buf, kind="svg", scale=4, border=4, xmldecl=False,
                                    title="TOTP enrolment QR code")
    return buf.getvalue().decode()


def label(issuer: str, account: str) -> str:
    return quote(issuer) + ":" + quote(account)
