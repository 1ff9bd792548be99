"""Batch cutting and offset-token comparison, with property tests."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snowpipe_stream._batching import (
    Batch,
    BatchBuilder,
    committed_prefix,
    parse_int_token,
    token_reached,
)
from snowpipe_stream._ndjson import encode_lines, encode_row


def batch(end: str | None) -> Batch:
    return Batch(b"{}\n", 1, end, end)


def test_token_reached() -> None:
    assert token_reached("10", "9")
    assert token_reached("10", "10")
    assert not token_reached("9", "10")
    assert not token_reached(None, "1")
    assert token_reached("b", "a") and not token_reached("a", "b")


def test_parse_int_token() -> None:
    assert [parse_int_token(t) for t in ("12", " 7 ", "-3", "+4", "1.5", "x", "", None, "٣")] == [
        12,
        7,
        -3,
        4,
        None,
        None,
        None,
        None,
        None,
    ]


def test_committed_prefix() -> None:
    batches = [batch("1"), batch(None), batch("3"), batch("10")]
    assert committed_prefix(batches, None) == 0
    assert committed_prefix(batches, "0") == 0
    assert committed_prefix(batches, "1") == 1
    assert committed_prefix(batches, "3") == 3  # the untokened batch before "3" is covered
    assert committed_prefix(batches, "9") == 3
    assert committed_prefix(batches, "10") == 4
    names = [batch("a"), batch("b"), batch("c")]
    assert committed_prefix(names, "b") == 2
    assert committed_prefix(names, "zz") == 0  # unknown non-numeric: resend everything


# At most 2 bytes per character in UTF-8 and JSON (no control characters): a row is at most
# 4 * (2 * 5 + 2 * 100 + 6) + 2 = 866 bytes, so every row fits the smallest limit below.
_text = st.characters(min_codepoint=0x20, max_codepoint=0x7FF)
rows_strategy = st.lists(
    st.dictionaries(
        st.text(_text, max_size=5),
        st.one_of(
            st.integers(min_value=-(10**6), max_value=10**6),
            st.text(_text, max_size=100),
            st.none(),
            st.booleans(),
        ),
        max_size=4,
    ),
    max_size=60,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    rows=rows_strategy,
    limit=st.integers(min_value=900, max_value=4000),
    group=st.integers(min_value=1, max_value=10),
)
def test_every_row_once_in_order_within_the_limit(
    rows: list[dict[str, object]], limit: int, group: int
) -> None:
    builder = BatchBuilder(limit)
    out: list[Batch] = []
    for start in range(0, len(rows), group):
        chunk = rows[start : start + group]
        blob = encode_lines(chunk)  # type: ignore[arg-type]
        for row in chunk:
            builder.check_line(encode_row(row))  # every generated row fits the smallest limit
        builder.add(blob, len(chunk), str(start + 1), str(start + len(chunk)), 0.0, out)
    last = builder.cut()
    if last is not None:
        out.append(last)
    decoded = [json.loads(line) for b in out for line in b.payload.splitlines()]
    assert decoded == rows
    assert all(b.nbytes <= limit for b in out)
    assert all(b.payload.endswith(b"\n") and b.rows == b.payload.count(b"\n") for b in out)
    assert sum(b.rows for b in out) == len(rows)
    ends = [int(b.end_token) for b in out if b.end_token is not None]
    assert ends == sorted(ends)
    if out:
        assert out[-1].end_token == str(len(rows))
        assert out[0].start_token == "1"
