"""``/admin/clients``: the client registry over HTTP, for a token carrying the ``admin`` scope.

    GET    /admin/clients                          list
    POST   /admin/clients            (JSON)        register; the secret is in this reply only
    GET    /admin/clients/{id}                     one client
    DELETE /admin/clients/{id}                     remove
    POST   /admin/clients/{id}/rotate-secret       new secret, old one stops working

The access token (Bearer, or DPoP with its proof) is checked as at every endpoint (RFC 6750 errors), then its
``scope`` must contain ``admin`` (403 ``insufficient_scope`` otherwise). JSON fields use RFC 7591
names: client_id, client_name, grant_types, redirect_uris, post_logout_redirect_uris, scope,
token_endpoint_auth_method, jwks, plus idgate's public, audiences, introspect, skip_consent,
access_token_ttl, refresh_token_ttl.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from idgate.errors import InvalidRequest, UnsupportedMediaType
from idgate.rs.request import has_scope
from idgate.server.deps import provider_of, refuse_scope, request_auth
from idgate.server.forms import read_body
from idgate.server.responses import NO_STORE
from idgate.services.clients import registry
from idgate.services.clients.metadata import ClientSpec

router = APIRouter(prefix="/admin/clients")
ADMIN_SCOPE = "admin"
MAX_BODY = 65_536


async def _require_admin(request: Request) -> dict[str, Any]:
    auth = await request_auth(request)
    if not has_scope(auth.claims, ADMIN_SCOPE):
        raise refuse_scope(request, auth, ADMIN_SCOPE)
    return auth.claims


def _strings(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(f"{name!r} must be a list of strings.")
    return value


def _typed(body: dict[str, Any], name: str, kind: type, default: Any) -> Any:
    value = body.get(name, default)
    if value is not None and (type(value) is not kind):
        raise InvalidRequest(f"{name!r} must be a {kind.__name__}.")
    return value


def spec_from_json(body: dict[str, Any]) -> ClientSpec:
    known = {"client_id", "client_name", "grant_types", "redirect_uris", "post_logout_redirect_uris", "scope",
             "token_endpoint_auth_method", "jwks", "public", "audiences", "introspect", "skip_consent",
             "access_token_ttl", "refresh_token_ttl", "dpop_bound_access_tokens", "require_passkey",
             "backchannel_logout_uri", "backchannel_logout_session_required"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise InvalidRequest(f"Unknown field(s): {', '.join(unknown)}.")
    scope = _typed(body, "scope", str, "")
    return ClientSpec(
        client_id=_typed(body, "client_id", str, ""),
        name=_typed(body, "client_name", str, "") or "",
        grant_types=_strings(body, "grant_types") if "grant_types" in body else ["authorization_code", "refresh_token"],
        redirect_uris=_strings(body, "redirect_uris"),
        post_logout_redirect_uris=_strings(body, "post_logout_redirect_uris"),
        scopes=[scope] if scope else [],
        auth_method=_typed(body, "token_endpoint_auth_method", str, None),
        jwks=_typed(body, "jwks", dict, None),
        public=bool(_typed(body, "public", bool, False)),
        audiences=_strings(body, "audiences"),
        introspect=bool(_typed(body, "introspect", bool, False)),
        skip_consent=bool(_typed(body, "skip_consent", bool, False)),
        access_token_ttl=_typed(body, "access_token_ttl", int, None),
        refresh_token_ttl=_typed(body, "refresh_token_ttl", int, None),
        dpop_bound_access_tokens=_typed(body, "dpop_bound_access_tokens", bool, None),
        require_passkey=bool(_typed(body, "require_passkey", bool, False)),
        backchannel_logout_uri=_typed(body, "backchannel_logout_uri", str, None),
        backchannel_logout_session_required=bool(_typed(body, "backchannel_logout_session_required", bool, False)),
    )


async def _json_body(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType("Send the client as application/json.")
    raw = await read_body(request, MAX_BODY)

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in pairs}) != len(pairs):
            raise InvalidRequest("A JSON member appears more than once.")
        return dict(pairs)

    try:
        body = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates)
    except InvalidRequest:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidRequest("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    return body


@router.get("", summary="List registered clients")
async def list_clients(request: Request) -> JSONResponse:
    await _require_admin(request)
    provider = provider_of(request)
    rows = await anyio.to_thread.run_sync(registry.list_clients, provider.sessions)
    return JSONResponse({"clients": [c.as_dict() for c in rows]}, headers=NO_STORE)


@router.post("", summary="Register a client", status_code=201)
async def add_client(request: Request) -> JSONResponse:
    await _require_admin(request)
    provider = provider_of(request)
    spec = spec_from_json(await _json_body(request))
    client, secret = await anyio.to_thread.run_sync(partial(registry.add_client, provider.sessions, spec,
                                                    dpop_default=provider.settings.dpop_bound_access_tokens_default))
    provider.clients.invalidate(client.client_id)  # forget a cached "no such client"
    body = client.as_dict()
    if secret is not None:
        body["client_secret"] = secret
    return JSONResponse(body, status_code=201, headers=NO_STORE)


@router.get("/{client_id}", summary="One registered client")
async def get_client(request: Request, client_id: str) -> JSONResponse:
    await _require_admin(request)
    provider = provider_of(request)
    client = await anyio.to_thread.run_sync(registry.require_client, provider.sessions, client_id)
    return JSONResponse(client.as_dict(), headers=NO_STORE)


@router.delete("/{client_id}", summary="Remove a client", status_code=204)
async def remove_client(request: Request, client_id: str) -> Response:
    await _require_admin(request)
    provider = provider_of(request)
    await anyio.to_thread.run_sync(registry.remove_client, provider.sessions, client_id)
    provider.clients.invalidate(client_id)  # refused at once on this node (others: within 1 s)
    return Response(status_code=204)


@router.post("/{client_id}/rotate-secret", summary="Replace a client's secret")
async def rotate_secret(request: Request, client_id: str) -> JSONResponse:
    await _require_admin(request)
    provider = provider_of(request)
    secret = await anyio.to_thread.run_sync(registry.rotate_secret, provider.sessions, client_id)
    provider.clients.invalidate(client_id)  # the old secret stops working at once on this node
    return JSONResponse({"client_id": client_id, "client_secret": secret}, headers=NO_STORE)
