"""How endpoints reach the provider and the verifier held by the app."""

from __future__ import annotations

from fastapi import Request

from idgate.provider import Provider
from idgate.rs import Verifier


def provider_of(request: Request) -> Provider:
    return request.app.state.provider  # type: ignore[no-any-return]


def verifier_of(request: Request) -> Verifier:
    return request.app.state.verifier  # type: ignore[no-any-return]
