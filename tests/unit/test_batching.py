"""Batch cutting and offset-token comparison, with property tests."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snowpipe_stream import OffsetTokenError
from snowpipe_stream._batching import (
    Batch,
    BatchBuilder,
    check_token,
    parse_int_token,
    row_tokens,
    token_reached,
)
from snowpipe_stream._ndjson import encode_lines, encode_row


def test_token_reached() -> None:
    assert token_reached("10", "9")
    assert token_reached("10", "10")
    assert not token_reached("9", "10")
    assert not token_reached(None, "1")
    assert token_reached("b", "a") and not token_reached("a", "b")
    assert token_reached("k:10", "k:9") and not token_reached("k:9", "k:10")
    assert not token_reached("j:10", "k:9")  # other prefixes: as strings


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


def test_row_tokens_interpolate_integers_and_prefixed_numbers() -> None:
    assert row_tokens("1", "3", 3) == ["1", "2", "3"]
    assert row_tokens("day2.ndjson:9", "day2.ndjson:11", 3) == [
        "day2.ndjson:9",
        "day2.ndjson:10",
        "day2.ndjson:11",
    ]
    assert row_tokens("a7", "a7", 1) == ["a7"]
    assert row_tokens("x", "y", 1) == ["y"]  # one row: its token is the end token
    # No token per row can be derived: the span does not match, prefixes differ, no numbers,
    # zero padding (its width would not survive), or a token is missing.
    assert row_tokens("1", "4", 3) is None
    assert row_tokens("a1", "b3", 3) is None
    assert row_tokens("a", "b", 2) is None
    assert row_tokens("007", "009", 3) is None
    assert row_tokens(None, "3", 3) is None
    assert row_tokens("1", None, 3) is None


def test_check_token() -> None:
    assert check_token(None, "offset_token") is None
    assert check_token("5", "offset_token") == "5"
    with pytest.raises(TypeError, match=r"offset_token must be a str or None, got int 5"):
        check_token(5, "offset_token")
    with pytest.raises(OffsetTokenError, match="empty"):
        check_token("", "end_offset_token")
    with pytest.raises(OffsetTokenError, match="reserved"):
        check_token("snowpipe-stream:3", "end_offset_token")


def test_a_batch_ends_with_the_token_of_its_last_row() -> None:
    builder = BatchBuilder(1000)
    builder.add_row({"a": 1}, "1", lambda: 0.0)
    builder.add_row({"a": 2}, None, lambda: 0.0)
    batch = builder.cut()
    assert batch is not None and (batch.start_token, batch.end_token) == ("1", None)
    assert builder.end_token is None
    builder.add_row({"a": 3}, "x", lambda: 0.0)
    assert builder.end_token == "x"


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
        first, last = str(start + 1), str(start + len(chunk))
        if len(blob) <= limit:
            builder.add(blob, len(chunk), first, last, 0.0, out)
        else:
            tokens = row_tokens(first, last, len(chunk))
            assert tokens is not None
            builder.add_split(blob, tokens, first, 0.0, out)
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
