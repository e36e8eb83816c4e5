"""``idgate serve --workers N``: N uvicorn worker processes on one listening socket.

uvicorn's multi-process mode starts each worker as a fresh interpreter (``spawn``) and builds the
app there from an import string, so the settings travel through the environment:
``IDGATE_SERVE_DATA`` (the data folder) and ``IDGATE_SERVE_OVERRIDES`` (the command-line flags,
JSON). Each worker loads them with the same precedence as a single process, opens its own
connection pool and key-ring cache, and shares everything else through the database (and
Redis, when configured). The supervisor runs migrations once before it starts the workers.

The ``uvicorn.Config`` handed to the supervisor is idgate's :class:`HardenedConfig`; it is
pickled into every worker, whose ``Config.load()`` therefore hardens that worker's TLS context
exactly as a single process does.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

DATA_ENV = "IDGATE_SERVE_DATA"
OVERRIDES_ENV = "IDGATE_SERVE_OVERRIDES"
APP_FACTORY = "idgate.ops.worker:app_from_env"


def app_from_env() -> Any:
    """The ASGI app of one worker (uvicorn calls this in the worker process)."""
    from idgate.config import load_settings
    from idgate.ops import logs
    from idgate.provider import Provider
    from idgate.server.app import create_app

    overrides = json.loads(os.environ.get(OVERRIDES_ENV) or "{}")
    settings = load_settings(Path(os.environ[DATA_ENV]), overrides)
    logs.configure(settings.log_format)
    return create_app(Provider(settings))


def run_workers(data: Path, overrides: dict[str, Any], server_options: dict[str, Any]) -> None:
    """Supervise ``workers`` processes until SIGINT/SIGTERM (each finishes its in-flight requests)."""
    from uvicorn.supervisors import Multiprocess

    from idgate.config import load_settings
    from idgate.server.tls import build_server

    settings = load_settings(data, overrides)
    os.environ[DATA_ENV] = str(data.resolve())
    os.environ[OVERRIDES_ENV] = json.dumps({k: v for k, v in overrides.items() if v is not None})
    # prometheus-client's multiprocess mode: every worker writes its series into this folder.
    metrics_dir = tempfile.mkdtemp(prefix="idgate-metrics-")
    atexit.register(shutil.rmtree, metrics_dir, True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    if settings.insecure_http:  # loopback or behind a TLS proxy only (checked by serve)
        import uvicorn

        config = uvicorn.Config(APP_FACTORY, host=settings.host, port=settings.port, factory=True,
                                workers=settings.workers, server_header=False, proxy_headers=False, http="h11",
                                ws="none", timeout_keep_alive=5, timeout_graceful_shutdown=10, **server_options)
    else:
        config = build_server(APP_FACTORY, settings.host, settings.port, settings.tls_cert_path,
                              settings.tls_key_path, factory=True, workers=settings.workers,
                              **server_options).config
    sock = config.bind_socket()
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()
