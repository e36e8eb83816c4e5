"""Structured logs: one JSON object per line on stderr, the request id on every line.

``EdgeMiddleware`` binds the request id (taken from a well-formed ``X-Request-ID`` or
made fresh) in :data:`request_id_var` for the whole request, so every logger (access, errors,
security events, throttle) writes it without being handed it; anyio's worker threads copy the
context, so lines written from them carry it too. A message that is itself a JSON object (the
access log and security events are) is merged into the line instead of being quoted.

When stderr is a terminal the same fields are printed for a human: ``12:03:04 INFO events
[4f1c..] login.success actor=... ``. Messages are written by idgate's own code, which never puts a
password, token or secret in one (events refuse detail keys that look like one); the formatter
adds nothing but time, level, logger and request id.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any, TextIO

from idgate import jsonenc

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("idgate_request_id", default=None)

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonLine(dict):  # type: ignore[type-arg]
    """A log message that is a JSON object. The formatters here take its fields as they are;
    the JSON text is made only if some other handler asks for the message (``str``), so a
    line costs one serialisation, not three (message, parse back, line)."""

    def __str__(self) -> str:
        return json.dumps(self, sort_keys=True)


def _payload(record: logging.LogRecord) -> dict[str, Any]:
    if isinstance(record.msg, JsonLine) and not record.args:
        fields: dict[str, Any] = dict(record.msg)
        if not fields.get("request_id"):
            rid = request_id_var.get()
            if rid:
                fields["request_id"] = rid
        return fields
    message = record.getMessage()
    fields = {}
    if message.startswith("{") and message.endswith("}"):
        try:
            parsed = json.loads(message)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            fields = parsed
    if not fields:
        fields = {"msg": message}
    extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}
    for key, value in extra.items():
        fields.setdefault(key, value if isinstance(value, (str, int, float, bool, type(None))) else str(value))
    if not fields.get("request_id"):
        rid = request_id_var.get()
        if rid:
            fields["request_id"] = rid
    return fields


class JsonFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "logger": ..., "request_id": ..., <fields>}`` on one line."""

    def __init__(self) -> None:
        super().__init__()
        self._second: tuple[int, str] = (-1, "")  # the date and time to the second, made once a second

    def _timestamp(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if self._second[0] != second:
            self._second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        return f"{self._second[1]}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        head = {"ts": self._timestamp(record), "level": record.levelname.lower(), "logger": record.name}
        line: dict[str, Any] = head | _payload(record)  # these three first, then the fields...
        line.update(head)  # ...which cannot overwrite them
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return jsonenc.line(line)


class HumanFormatter(logging.Formatter):
    """The same fields for a person at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _payload(record)
        rid = fields.pop("request_id", None)
        head = fields.pop("event", None) or fields.pop("msg", "")
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        name = record.name.removeprefix("idgate.")
        rest = " ".join(f"{k}={json.dumps(v, default=str) if not isinstance(v, str) else v}"
                        for k, v in fields.items() if v not in (None, {}, []))
        text = f"{stamp} {record.levelname:<7} {name:<8} [{(rid or '-')[:12]}] {head} {rest}".rstrip()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """``StreamHandler`` that flushes the stream directly after each line: ``handle()`` already
    holds the handler's lock around ``emit``, which ``StreamHandler.flush`` would take again."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + "\n")
            self.stream.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


def configure(log_format: str = "auto", stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Send idgate's and uvicorn's loggers to ``stream`` (stderr) in one format."""
    stream = stream or sys.stderr
    # No formatter here prints the caller's file and line, thread or process: skip collecting
    # them for every record (the "Optimization" table of the Logging HOWTO). Measured: 37 -> 30 µs
    # a line, and every token and login writes two or three.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    human = log_format == "text" or (log_format == "auto" and stream.isatty())
    handler = _LineHandler(stream)
    handler.setFormatter(HumanFormatter() if human else JsonFormatter())
    for name, lvl in (("idgate", level), ("uvicorn", logging.WARNING), ("uvicorn.error", logging.WARNING)):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler] if name != "uvicorn.error" else []
        logger.setLevel(lvl)
        logger.propagate = name == "uvicorn.error"
    access = logging.getLogger("uvicorn.access")  # idgate writes its own access log (no query strings)
    access.handlers[:] = []
    access.propagate = False
    access.disabled = True
