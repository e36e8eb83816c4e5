"""JSON serialisation of the hot paths: token claims, token replies and log lines.

A client-credentials token is serialised five times (its header and claims, the reply, the
security event's line and the access line). With the standard library each costs 2-3 µs
(measured here: 2.6 µs for the claims, 2.6 µs for an event line); orjson (a C extension) does
the same in 0.2 µs. The output is the same JSON: compact separators, keys in insertion order,
UTF-8 rather than ``\\u`` escapes (``ensure_ascii=False``), the same escapes of quotes,
backslashes and control characters. Where orjson refuses a value the standard library takes
(an integer beyond 64 bits), the standard library serialises it, so nothing that worked fails.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_SORTED = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))
_LINE = json.JSONEncoder(default=str, ensure_ascii=False, separators=(",", ":"))
# Log fields may hold anything: keys that are not strings, dataclasses and datetimes are written
# as the standard library's default=str would write them.
_LINE_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def compact(data: Any) -> bytes:
    """``json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()``, faster."""
    try:
        return orjson.dumps(data)
    except TypeError:  # orjson.JSONEncodeError: e.g. an int beyond 64 bits
        return _COMPACT.encode(data).encode("utf-8")


def sorted_compact(data: Any) -> str:
    """``json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))``, faster."""
    try:
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode("utf-8")
    except TypeError:
        return _SORTED.encode(data)


def line(data: Any) -> str:
    """A log line: compact, UTF-8 (a name in another script stays readable; control characters
    are still escaped, so a value cannot start a new line), anything unknown written with ``str()``."""
    try:
        return orjson.dumps(data, default=str, option=_LINE_OPTIONS).decode("utf-8")
    except TypeError:
        return _LINE.encode(data)
