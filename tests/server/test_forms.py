"""The form-body parser (server/forms.form_pairs) against the standard library's parse_qsl with
the options it stands for: the same pairs for every body parse_qsl accepts, a ValueError (or
UnicodeDecodeError) for every body it refuses."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idgate.server.forms import MAX_FIELDS, form_pairs


def _reference(text: str) -> list[tuple[str, str]] | type[Exception]:
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=MAX_FIELDS,
                         encoding="utf-8", errors="strict")
    except (ValueError, UnicodeDecodeError):  # UnicodeDecodeError is a ValueError
        return ValueError


def _ours(text: str) -> list[tuple[str, str]] | type[Exception]:
    try:
        return form_pairs(text)
    except (ValueError, UnicodeDecodeError):
        return ValueError


# Bodies built from the characters that matter to the grammar, and from real encoded pairs.
_raw = st.text(alphabet="ab=&+%20FfZz\u00e9;", max_size=40)
_encoded = st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=40).map(
    lambda pairs: "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in pairs))


# Escapes of arbitrary bytes (valid and invalid UTF-8, split characters) between plain text.
_escaped = st.lists(st.binary(max_size=6).map(lambda b: "".join(f"%{x:02X}" for x in b)) | st.text("aé+=", max_size=3),
                    max_size=8).map("".join).map(lambda v: f"k={v}&n=%{v[:3]}")


@settings(max_examples=1500, deadline=None)
@given(_raw | _encoded | _escaped)
def test_form_pairs_agree_with_parse_qsl(text: str) -> None:
    assert _ours(text) == _reference(text)


@pytest.mark.parametrize("text", [
    "", "a=1", "a=", "=", "=1", "a=1&b=2", "a=1&&b=2", "a=1&", "&a=1", "a", "a=1&b", "a=b=c", "a+b=c+d",
    "a%20b=%41%42", "a=%", "a=%zz", "a=%C3%A9", "a=%C3", "a=%FF", "a=1;b=2", "&".join(["x=1"] * MAX_FIELDS),
    "&".join(["x=1"] * (MAX_FIELDS + 1)),
])
def test_form_pairs_agree_with_parse_qsl_on_edge_cases(text: str) -> None:
    assert _ours(text) == _reference(text)
