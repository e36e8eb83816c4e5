"""``idgate serve``: HTTPS by default; plain HTTP only when explicitly asked and safe."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from idgate.cli.common import DatabaseOpt, DataOpt, settings_for
from idgate.config.schema import Settings, is_loopback_host
from idgate.errors import ConfigError


def _configure_logging(log_format: str = "auto") -> None:
    """JSON lines with the request id on every line; human-readable on a terminal (issue 7)."""
    from idgate.ops import logs

    logs.configure(log_format)


def check_transport(settings: Settings) -> None:
    """Plain HTTP is allowed on loopback, or behind a TLS-terminating proxy; nowhere else."""
    if not settings.insecure_http:
        for path in (settings.tls_cert_path, settings.tls_key_path):
            if not path.exists():
                raise ConfigError(f"TLS file {path} is missing; run 'idgate init' or pass --tls-cert/--tls-key.")
        return
    if not (is_loopback_host(settings.host) or settings.behind_proxy):
        raise ConfigError(
            f"Refusing plain HTTP on {settings.host}: passwords and tokens would cross the network in clear. "
            "Bind to 127.0.0.1, or set --behind-proxy when a TLS-terminating proxy forwards to idgate."
        )


def serve_command(
    data: DataOpt = Path(".idgate"),
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8443).")] = None,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="Certificate PEM (default DATA/tls/cert.pem).")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="Private key PEM (default DATA/tls/key.pem).")] = None,
    insecure_http: Annotated[bool, typer.Option("--insecure-http", help="Serve plain HTTP (loopback or behind a TLS proxy only).")] = False,
    behind_proxy: Annotated[bool, typer.Option("--behind-proxy", help="Trust X-Forwarded-* from trusted_proxies.")] = False,
    database: DatabaseOpt = None,
    redis: Annotated[str | None, typer.Option("--redis", help="Redis URL for throttle counters shared by replicas "
                                              "(default: in-process).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Worker processes sharing the port and the "
                                                "database (default 1).")] = None,
) -> None:
    """Run the identity provider."""
    # Imported here so that every other command starts without the web stack.
    import uvicorn

    from idgate.provider import Provider
    from idgate.server.app import create_app
    from idgate.server.tls import build_server
    from idgate.store import db

    overrides = dict(host=host, port=port, tls_cert=str(tls_cert) if tls_cert else None,
                     tls_key=str(tls_key) if tls_key else None, insecure_http=insecure_http or None,
                     behind_proxy=behind_proxy or None, database_url=database, redis_url=redis, workers=workers)
    settings = settings_for(data, **overrides)
    check_transport(settings)
    from idgate.throttle import check_redis

    check_redis(settings)
    _configure_logging(settings.log_format)
    provider = Provider(settings)
    # Migrations run here, once, under a PostgreSQL advisory lock (several nodes may start together).
    db.upgrade(provider.engine)
    if settings.workers > 1:
        from idgate.ops.worker import run_workers

        if not settings.redis_url:
            typer.echo("idgate WARNING: several workers without --redis: each keeps its own throttle counters, "
                       "so login limits are multiplied by the number of workers.", err=True)

        provider.close()
        typer.echo(f"idgate {settings.issuer} listening on https://{settings.host}:{settings.port} "
                   f"with {settings.workers} workers", err=True)
        code = run_workers(data, overrides, {"access_log": False, "log_level": "warning", "log_config": None})
        if code:
            raise typer.Exit(code)
        return
    app = create_app(provider)
    scheme = "http" if settings.insecure_http else "https"
    if settings.insecure_http:
        typer.echo("idgate WARNING: plain HTTP. This MUST NOT face a network; use TLS or a TLS proxy.", err=True)
    typer.echo(f"idgate {settings.issuer} listening on {scheme}://{settings.host}:{settings.port}", err=True)
    if settings.insecure_http:
        from idgate.server.http_protocol import server_options

        config = uvicorn.Config(app, host=settings.host, port=settings.port, server_header=False, access_log=False,
                                proxy_headers=False, timeout_keep_alive=5, log_level="warning", log_config=None,
                                timeout_graceful_shutdown=10, **server_options())
        uvicorn.Server(config).run()
    else:
        build_server(app, settings.host, settings.port, settings.tls_cert_path, settings.tls_key_path,
                     access_log=False, log_level="warning", log_config=None).run()
