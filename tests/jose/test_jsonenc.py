"""idgate.jsonenc against the standard library: the same bytes for every JSON document made of
strings, integers, booleans, null, lists and objects (token claims, replies, log lines), the same
value for floats, and the standard library's answer where orjson refuses (integers past 64 bits)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from idgate import jsonenc

_scalars = st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1) | st.text()
_documents = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=5)
                          | st.dictionaries(st.text(), inner, max_size=5), max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(_documents)
def test_compact_writes_the_standard_librarys_bytes(document: object) -> None:
    expected = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert jsonenc.compact(document) == expected


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(), _documents, max_size=8))
def test_sorted_compact_writes_the_standard_librarys_text(document: dict[str, object]) -> None:
    assert jsonenc.sorted_compact(document) == json.dumps(document, ensure_ascii=False, sort_keys=True,
                                                          separators=(",", ":"))


@settings(max_examples=200, deadline=None)
@given(_documents)
def test_a_log_line_is_the_standard_librarys_line(document: object) -> None:
    assert jsonenc.line({"event": "x", "value": document}) == json.dumps(
        {"event": "x", "value": document}, ensure_ascii=False, default=str, separators=(",", ":"))


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_keep_their_value(number: float) -> None:
    assert json.loads(jsonenc.compact({"n": number})) == {"n": number}


def test_what_orjson_refuses_falls_back_to_the_standard_library() -> None:
    huge = {"n": 2**70, "k": "v"}
    assert jsonenc.compact(huge) == b'{"n":1180591620717411303424,"k":"v"}'
    assert jsonenc.line(huge) == '{"n":1180591620717411303424,"k":"v"}'


def test_log_lines_write_unknown_values_as_str_and_escape_line_breaks() -> None:
    @dataclass
    class Thing:
        name: str

    at = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    text = jsonenc.line({"at": at, "thing": Thing("x"), 7: "seven", "msg": "a\nb\u2028c\x00"})
    assert "\n" not in text and "\x00" not in text
    assert json.loads(text) == {"at": str(at), "thing": str(Thing("x")), "7": "seven", "msg": "a\nb\u2028c\x00"}
