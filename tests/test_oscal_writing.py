"""The OSCAL document's compact writer: the text ``json.dumps`` gives, written a piece at a time."""

from __future__ import annotations

import io
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from chsm_checks.reports.oscal import write_compact_json

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=80) | st.dictionaries(st.text(), children, max_size=6),
    max_leaves=400,
)


@given(JSON, st.booleans())
def test_the_compact_writer_writes_what_json_dumps_gives(value: Any, ensure_ascii: bool) -> None:
    out = io.StringIO()
    write_compact_json(value, out, ensure_ascii=ensure_ascii)
    assert out.getvalue() == json.dumps(value, ensure_ascii=ensure_ascii)


def test_a_long_list_deep_in_the_document_is_written_as_json_dumps_writes_it() -> None:
    document = {"a": {"b": [{"c": [{"uuid": str(n), "é": [n, None]} for n in range(200)]}]}}
    out = io.StringIO()
    write_compact_json(document, out, ensure_ascii=True, levels=2)
    assert out.getvalue() == json.dumps(document)
