"""Prometheus metrics (prometheus-client): what the server is doing, for operators only.

``GET /metrics`` is **not public**. It answers only with ``Authorization: Bearer <metrics_token>``
(config ``metrics_token``, at least 32 characters, compared in constant time) and 404 when no
token is configured, so a default install shows nothing. It is served on the normal HTTPS port,
so the token never crosses a network in clear. (A separate loopback-only port was the other
option; a bearer token works the same behind a load balancer, in containers and with
``--workers N``, where a per-process port would show one worker only.)

Exported series (all names start with ``idgate_``):

=====================================  =================================================
``http_requests_total``                requests by ``route`` (template, e.g. ``/token``), ``method``, ``status``
``http_request_duration_seconds``      latency histogram by ``route`` and ``method``
``logins_total``                       ``outcome``: success, failure, locked, throttled, mfa_required
``tokens_issued_total``                by ``grant`` (password, authorization_code...)
``tokens_refreshed_total``             successful refresh-token rotations
``tokens_revoked_total``               by ``type``: refresh_token, access_token, family_reuse
``throttled_requests_total``           by ``endpoint``: login, token, mfa
``hash_queue_depth``                   password checks waiting for a hashing thread
=====================================  =================================================

Login and token counters are derived from the security events (``idgate.events``), so they
count exactly what the audit trail records. Route labels are templates, never raw paths, so a
scanner cannot grow the number of series; unknown paths are counted as ``other``.

With ``idgate serve --workers N`` every worker writes its values to files in
``PROMETHEUS_MULTIPROC_DIR`` (made by ``serve``) and a scrape of any worker reports the sum
of all of them (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import hmac
import logging
import os
import weakref
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import Scope

from idgate import events
from idgate.server import process_metrics

if TYPE_CHECKING:
    from idgate.provider import Provider

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LOGIN_OUTCOMES = {"login.success": "success", "login.throttled": "throttled", "login.mfa_required": "mfa_required"}
_THROTTLED = {"login.throttled": "login", "token.throttled": "token", "mfa.throttled": "mfa"}


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


class Metrics:
    """One set of series per app (a private registry, so tests can build many apps)."""

    def __init__(self, provider: Provider) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._provider = weakref.ref(provider)
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.static_paths: frozenset[str] = frozenset()  # set by install(), once the routes are known
        self._issued: dict[str, Any] = {}  # grant -> its child of tokens_issued_total (a few grants)
        reg = self.registry
        self.requests = Counter("idgate_http_requests_total", "HTTP requests by route template, method and status.",
                                ("route", "method", "status"), registry=reg)
        self.latency = Histogram("idgate_http_request_duration_seconds", "Time to the end of the response.",
                                 ("route", "method"), buckets=BUCKETS, registry=reg)
        self.logins = Counter("idgate_logins_total", "Password logins by outcome.", ("outcome",), registry=reg)
        self.issued = Counter("idgate_tokens_issued_total", "Token grants started (a new login or code exchange).",
                              ("grant",), registry=reg)
        self.refreshed = Counter("idgate_tokens_refreshed_total", "Refresh tokens rotated.", registry=reg)
        self.revoked = Counter("idgate_tokens_revoked_total", "Tokens revoked, by type.", ("type",), registry=reg)
        self.throttled = Counter("idgate_throttled_requests_total", "Requests refused by the throttle (429).",
                                 ("endpoint",), registry=reg)
        self.jwks_lookups = Counter("idgate_verifier_jwks_lookups_total",
                                    "Signing-key lookups of the server's own token verifier (userinfo, introspection, "
                                    "admin API): hit = answered from its key cache.", ("result",), registry=reg)
        self.queue = Gauge("idgate_hash_queue_depth", "Password checks waiting for a hashing thread.",
                           registry=reg, multiprocess_mode="livesum")
        self._multiprocess = multiprocess()  # fixed for the process's life (the supervisor sets it)
        self._queue_written = -1.0
        if not self._multiprocess:
            self.queue.set_function(self.queue_depth)
            process_metrics.register_single_process(reg)  # process_* and python_* (issue 16)
        else:
            process_metrics.count_gc_in_worker()
        _EVENT_SINKS.append(weakref.ref(self, _EVENT_SINKS.remove))

    def queue_depth(self) -> float:
        provider = self._provider()
        if provider is None or "hash_pool" not in provider.__dict__:
            return 0.0
        return float(provider.hash_pool.queue_depth)

    def series_for(self, route: str, method: str, status: int) -> tuple[Any, Any]:
        """The request counter and latency histogram children for one label set, looked up once
        (``labels()`` takes a lock and builds a tuple on every call). Bounded: routes are
        templates, methods and statuses few."""
        key = (route, method, status)
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = (self.requests.labels(route, method, str(status)),
                                         self.latency.labels(route, method))
        return found

    def observe_request(self, scope: Scope, status: int, seconds: float) -> None:
        """Count and time one HTTP request (called by ``EdgeMiddleware`` once it is answered).
        The route label is the matched template; a path no route matched is ``other`` unless it
        is one of the application's fixed paths, so a scanner cannot grow the series."""
        template = getattr(scope.get("route"), "path", None)
        if template is None:
            template = scope["path"] if scope["path"] in self.static_paths else "other"
        method = scope["method"] if scope["method"] in _METHODS else "other"
        counter, histogram = self.series_for(template, method, status)
        counter.inc()
        histogram.observe(seconds)
        if self._multiprocess:
            # A worker's gauge lives in a shared file: written when the value moves, not per request.
            depth = self.queue_depth()
            if depth != self._queue_written:
                self.queue.set(depth)
                self._queue_written = depth

    def observe_event(self, kind: str, outcome: str, detail: dict[str, Any]) -> None:
        if kind in _LOGIN_OUTCOMES:
            self.logins.labels(_LOGIN_OUTCOMES[kind]).inc()
        elif kind == "login.failure":
            self.logins.labels("locked" if outcome == "locked" else "failure").inc()
        elif kind == "token.issued":
            grant = str(detail.get("grant") or "other")[:32]
            issued = self._issued.get(grant)
            if issued is None:  # labels() takes a lock and builds its key each time: look it up once
                issued = self._issued[grant] = self.issued.labels(grant)
            issued.inc()
        elif kind == "token.refreshed":
            self.refreshed.inc()
        elif kind == "token.revoked":
            self.revoked.labels(str(detail.get("type") or "other")[:32]).inc()
        elif kind == "token.refresh_reuse":
            self.revoked.labels("family_reuse").inc()
        elif kind == "token.code_reuse":
            self.revoked.labels("code_reuse").inc()
        if kind in _THROTTLED:
            self.throttled.labels(_THROTTLED[kind]).inc()

    def render(self) -> bytes:
        if not multiprocess():
            return generate_latest(self.registry)
        from prometheus_client import multiprocess as mp

        self.queue.set(self.queue_depth())
        merged = CollectorRegistry()
        mp.MultiProcessCollector(merged)
        process_metrics.register_multiprocess(merged)
        return generate_latest(merged)


# Every live Metrics (one per app; tests build many), as weak references that remove themselves.
_EVENT_SINKS: list[weakref.ref[Metrics]] = []


def _count_event(kind: str, outcome: str, detail: dict[str, Any]) -> None:
    """Every security event, as counter increments (the event itself is never stored here)."""
    for ref in tuple(_EVENT_SINKS):
        sink = ref()
        if sink is not None:
            sink.observe_event(kind, outcome, detail)


def _count_events() -> None:
    events.observe(_count_event)
    events_log = logging.getLogger("idgate.events")
    if events_log.getEffectiveLevel() > logging.INFO:
        events_log.setLevel(logging.INFO)  # security events are written whatever idgate's log level


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response:
    provider = request.app.state.provider
    metrics: Metrics | None = getattr(request.app.state, "metrics", None)
    expected = provider.settings.metrics_token
    if metrics is None or not expected:
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    scheme, _, presented = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), str(expected).encode()):
        return JSONResponse({"error": "invalid_token"}, status_code=401,
                            headers={"WWW-Authenticate": 'Bearer realm="idgate-metrics", error="invalid_token"'})
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


def install(app: Any, provider: Provider) -> Metrics:
    """Create the series and the ``/metrics`` route (call once every route is added); requests
    are counted by ``EdgeMiddleware`` through :meth:`Metrics.observe_request`."""
    metrics = Metrics(provider)
    app.state.metrics = metrics
    app.include_router(router)
    _count_events()
    metrics.static_paths = frozenset(getattr(r, "path", "") for r in app.routes if "{" not in getattr(r, "path", "{"))
    return metrics
