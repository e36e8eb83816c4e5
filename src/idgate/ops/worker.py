"""``idgate serve --workers N``: N uvicorn worker processes on one listening socket.

uvicorn's multi-process mode starts each worker as a fresh interpreter (``spawn``) and builds the
app there from an import string, so the settings travel through the environment:
``IDGATE_SERVE_DATA`` (the data folder) and ``IDGATE_SERVE_OVERRIDES`` (the command-line flags,
JSON). Each worker loads them with the same precedence as a single process, opens its own
connection pool and key-ring cache, and shares everything else through the database (and
Redis, when configured). The supervisor runs migrations once before it starts the workers.

The ``uvicorn.Config`` handed to every worker is idgate's :class:`HardenedConfig`; it is pickled
into the worker, whose ``Config.load()`` therefore hardens that worker's TLS context exactly as a
single process does. Each worker listens on its own ``SO_REUSEPORT`` socket on the same address,
so the kernel balances connections across workers.
"""

from __future__ import annotations

import atexit
import json
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("idgate.server")

DATA_ENV = "IDGATE_SERVE_DATA"
OVERRIDES_ENV = "IDGATE_SERVE_OVERRIDES"
APP_FACTORY = "idgate.ops.worker:app_from_env"


def app_from_env() -> Any:
    """The ASGI app of one worker (uvicorn calls this in the worker process)."""
    from idgate.config.loading import load_settings
    from idgate.ops import logs
    from idgate.provider import Provider
    from idgate.server.app import create_app

    overrides = json.loads(os.environ.get(OVERRIDES_ENV) or "{}")
    settings = load_settings(Path(os.environ[DATA_ENV]), overrides)
    logs.configure(settings.log_format)
    return create_app(Provider(settings))


def run_workers(data: Path, overrides: dict[str, Any], server_options: dict[str, Any]) -> int:
    """Supervise ``workers`` processes until SIGINT/SIGTERM (each finishes its in-flight requests)."""
    from idgate.config.loading import load_settings
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

        from idgate.server.http_protocol import server_options as parser_options

        config = uvicorn.Config(APP_FACTORY, host=settings.host, port=settings.port, factory=True,
                                workers=settings.workers, server_header=False, proxy_headers=False,
                                timeout_keep_alive=5, timeout_graceful_shutdown=10, **parser_options(),
                                **server_options)
    else:
        config = build_server(APP_FACTORY, settings.host, settings.port, settings.tls_cert_path,
                              settings.tls_key_path, factory=True, workers=settings.workers,
                              **server_options).config
    return Supervisor(config, settings.workers).run()


def _listening_socket(host: str, port: int) -> socket.socket:
    """One socket per worker, all on the same address with SO_REUSEPORT: the kernel spreads new
    connections evenly across them. (With one shared socket the first worker to wake accepts a
    whole burst of keep-alive connections and keeps them: one busy worker, one idle.)"""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _worker_main(config: Any, sock: socket.socket) -> None:
    """Entry point of one worker process (spawned: a fresh interpreter)."""
    import uvicorn

    config.configure_logging()
    try:
        uvicorn.Server(config).run(sockets=[sock])  # Config.load() there hardens TLS (HardenedConfig)
    except KeyboardInterrupt:
        pass


def _forget_metrics_of(pid: int | None) -> None:
    """A dead worker's gauges stop counting (its counters stay in the totals)."""
    if pid is None or not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


class Supervisor:
    """Starts the workers, restarts one that dies, and on SIGTERM/SIGINT passes SIGTERM on and
    waits: each worker stops accepting, finishes its in-flight requests (bounded by
    ``timeout_graceful_shutdown``), closes its pool and exits."""

    RESTART_WINDOW = 30.0  # a worker that fails this soon after starting is broken, not unlucky

    def __init__(self, config: Any, workers: int) -> None:
        multiprocessing.allow_connection_pickling()
        self._ctx = multiprocessing.get_context("spawn")
        self.config, self.workers = config, workers
        self.sockets = [_listening_socket(config.host, config.port) for _ in range(workers)]
        self.processes: list[Any] = []
        self.started_at: list[float] = []
        self.stopping = threading.Event()

    def _spawn(self, index: int) -> Any:
        proc = self._ctx.Process(target=_worker_main, args=(self.config, self.sockets[index]),
                                 name=f"idgate-worker-{index}")
        proc.start()
        return proc

    def _on_signal(self, _signum: int, _frame: Any) -> None:
        self.stopping.set()

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        code = 0
        try:
            for i in range(self.workers):
                self.processes.append(self._spawn(i))
                self.started_at.append(time.monotonic())
            while not self.stopping.wait(0.25):
                for i, proc in enumerate(self.processes):
                    if proc.is_alive():
                        continue
                    # uvicorn exits 1 (app or config would not load) or 3 (could not start serving):
                    # a restart would fail the same way. A worker killed by a signal is replaced.
                    if proc.exitcode in (1, 3) and time.monotonic() - self.started_at[i] < self.RESTART_WINDOW:
                        log.error(json.dumps({"event": "worker_failed_to_start", "exitcode": proc.exitcode}))
                        self.stopping.set()
                        code = 1
                        break
                    log.warning(json.dumps({"event": "worker_restarted", "exitcode": proc.exitcode}))
                    _forget_metrics_of(proc.pid)
                    self.processes[i] = self._spawn(i)
                    self.started_at[i] = time.monotonic()
        finally:
            for proc in self.processes:
                if proc.is_alive() and proc.pid is not None:
                    os.kill(proc.pid, signal.SIGTERM)
            for proc in self.processes:
                proc.join()
            for sock in self.sockets:
                sock.close()
        return code
