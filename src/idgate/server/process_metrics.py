"""Prometheus' standard ``process_*`` and Python runtime series for ``/metrics``, right across
``idgate serve --workers N``.

In one process, prometheus-client's own collectors are used (process, platform, GC). With
several workers a scrape is answered by one of them, and its own process figures would describe a
fraction of idgate, different on every scrape. So in multiprocess mode:

* ``process_*`` describe the whole server: the supervisor and every process under it (workers,
  the multiprocessing helper), read from ``/proc`` at scrape time and summed (CPU seconds,
  memory, open descriptors); ``process_start_time_seconds`` is the supervisor's start and
  ``process_max_fds`` its limit. ``idgate_processes`` says how many processes were summed.
* ``python_gc_*`` are counted by every worker (a ``gc.callbacks`` hook writing to the shared
  multiprocess files) and summed like the other counters; ``python_info`` is the same in all.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

PROC = Path("/proc")
_SUMMED = ("process_virtual_memory_bytes", "process_resident_memory_bytes", "process_open_fds",
           "process_cpu_seconds_total")
_FROM_ROOT = ("process_start_time_seconds", "process_max_fds")
_gc_hooked = False


def register_single_process(registry: CollectorRegistry) -> None:
    """One process: prometheus-client's collectors, on the app's own registry."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)


def count_gc_in_worker() -> None:
    """Multiprocess mode: count this worker's collections into the shared files (once a process)."""
    global _gc_hooked
    if _gc_hooked:
        return
    _gc_hooked = True
    collections = Counter("python_gc_collections", "Number of times this generation was collected (all workers).",
                          ("generation",), registry=None)
    collected = Counter("python_gc_objects_collected", "Objects collected during gc (all workers).",
                        ("generation",), registry=None)
    uncollectable = Counter("python_gc_objects_uncollectable", "Uncollectable objects found during GC (all workers).",
                            ("generation",), registry=None)
    children = [(collections.labels(str(g)), collected.labels(str(g)), uncollectable.labels(str(g))) for g in range(3)]

    def on_collection(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop":
            runs, objects, stuck = children[info["generation"]]
            runs.inc()
            objects.inc(info["collected"])
            stuck.inc(info["uncollectable"])

    gc.callbacks.append(on_collection)


def process_tree(root: int, proc: Path = PROC) -> list[int]:
    """``root`` and every process below it, from ``/proc/<pid>/task/<tid>/children`` (Linux)."""
    seen: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.append(pid)
        try:
            for task in (proc / str(pid) / "task").iterdir():
                todo.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:  # the process ended meanwhile
            continue
    return seen


class ProcessTreeCollector:
    """``process_*`` of the supervisor and all its descendants, summed (see the module docstring)."""

    def __init__(self, root: int, proc: Path = PROC) -> None:
        self.root, self.proc = root, proc

    def collect(self) -> Iterator[Metric]:
        pids = process_tree(self.root, self.proc)
        totals: dict[str, float] = {}
        documentation: dict[str, tuple[str, str]] = {}
        for pid in pids:
            collector = ProcessCollector(pid=lambda pid=pid: pid, proc=str(self.proc), registry=None)
            for family in collector.collect():
                for sample in family.samples:
                    documentation.setdefault(sample.name, (family.documentation, family.type))
                    if sample.name in _SUMMED:
                        totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
                    elif sample.name in _FROM_ROOT and pid == self.root:
                        totals[sample.name] = sample.value
        for name, value in totals.items():
            text, kind = documentation[name]
            if kind == "counter":
                yield CounterMetricFamily(name.removesuffix("_total"), text + " (the whole server)", value=value)
            else:
                yield GaugeMetricFamily(name, text + ("" if name in _FROM_ROOT else " (the whole server)"), value=value)
        yield GaugeMetricFamily("idgate_processes", "Processes of this server summed in process_*.", value=len(pids))


def register_multiprocess(registry: CollectorRegistry) -> None:
    """Several workers: the process tree of the supervisor (this worker's parent) and python_info;
    the GC counters come from the multiprocess files with everything else."""
    registry.register(ProcessTreeCollector(os.getppid()))
    PlatformCollector(registry=registry)
