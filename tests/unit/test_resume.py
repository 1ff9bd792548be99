"""The pure decisions of a resumable unit write: what is committed, what is sent, its tokens."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snowpipe_stream._resume import (
    ALL,
    ReplayMismatchError,
    UnitPlan,
    committed_rows,
    parse_unit_token,
    unit_token,
)


@pytest.mark.parametrize(
    ("committed", "expected"),
    [
        (None, 0),  # a fresh channel
        ("", 0),
        ("q1:7:250", 250),  # this unit, part way
        ("q1:6:9999", 0),  # an earlier unit of the same write
        ("q1:8:1", ALL),  # a later unit committed: so did this one
        ("q2:7:250", 0),  # another write's token: this write appends
        ("snowpipe-stream:12", 0),  # the library's own token
        ("1234", 0),  # a plain caller token
        ("q1:07:250", 0),  # zero-padded: not a token this module makes
        ("q1:x:250", 0),
    ],
)
def test_committed_rows_reads_the_channels_committed_token(
    committed: str | None, expected: int
) -> None:
    assert committed_rows(committed, "q1", 7) == expected


def test_write_ids_may_hold_colons_and_tokens_parse_back() -> None:
    token = unit_token("spark:query-1", 3, 42)
    assert token == "spark:query-1:3:42"
    assert parse_unit_token(token) == ("spark:query-1", 3, 42)
    assert committed_rows(token, "spark:query-1", 3) == 42


def test_a_plan_skips_the_committed_rows_and_chunks_the_rest_with_unit_tokens() -> None:
    plan = UnitPlan("w", 2, "w:2:3", chunk_rows=2)
    rows = [{"i": i} for i in range(1, 9)]
    chunks = list(plan.chunks(rows))
    assert chunks == [
        ([{"i": 4}, {"i": 5}], "w:2:4", "w:2:5"),
        ([{"i": 6}, {"i": 7}], "w:2:6", "w:2:7"),
        ([{"i": 8}], "w:2:8", "w:2:8"),
    ]
    assert (plan.rows_seen, plan.rows_sent) == (8, 5)
    assert plan.finish() == "w:2:8"


def test_a_unit_committed_whole_or_passed_by_a_later_one_sends_nothing() -> None:
    for committed in ("w:0:3", "w:1:1"):
        plan = UnitPlan("w", 0, committed)
        assert list(plan.chunks([{"i": 1}, {"i": 2}, {"i": 3}])) == []
        assert plan.finish() is None


def test_a_replay_with_fewer_rows_than_committed_is_refused_by_name() -> None:
    plan = UnitPlan("w", 0, "w:0:5")
    assert list(plan.chunks([{"i": 1}, {"i": 2}])) == []
    with pytest.raises(ReplayMismatchError, match="yielded 2 rows but 5 are committed"):
        plan.finish()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", 0, None), "write_id"),
        ((" w", 0, None), "write_id"),
        (("snowpipe-stream:x", 0, None), "reserved"),
        (("w", -1, None), "sequence"),
        (("w", True, None), "sequence"),
    ],
)
def test_bad_plans_are_refused(args: tuple[str, int, None], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        UnitPlan(*args)
    with pytest.raises(ValueError, match="chunk_rows"):
        UnitPlan("w", 0, None, chunk_rows=0)


@given(
    n=st.integers(0, 60),
    k=st.integers(0, 60),
    chunk_rows=st.integers(1, 7),
    seq=st.integers(0, 3),
    committed_seq=st.integers(0, 3),
)
def test_every_row_is_sent_once_across_a_first_attempt_and_its_retry(
    n: int, k: int, chunk_rows: int, seq: int, committed_seq: int
) -> None:
    # Whatever the channel has committed of this unit (k rows), the retry sends exactly the
    # rest, each row with its own position's token, in order.
    k = min(k, n)
    committed = unit_token("w", seq, k) if k else None
    plan = UnitPlan("w", seq, committed, chunk_rows)
    sent = [
        (row["i"], token)
        for chunk, start, end in plan.chunks({"i": i} for i in range(1, n + 1))
        for row, token in zip(chunk, _tokens(start, end, len(chunk)), strict=True)
    ]
    assert sent == [(i, f"w:{seq}:{i}") for i in range(k + 1, n + 1)]
    assert plan.finish() == (f"w:{seq}:{n}" if n > k else None)
    # A token of another sequence of the same write: all (earlier) or nothing (later).
    other = UnitPlan("w", seq, unit_token("w", committed_seq, 1))
    expected = 0 if committed_seq < seq else (1 if committed_seq == seq else ALL)
    assert other.skip == expected


def _tokens(start: str, end: str, n: int) -> list[str]:
    prefix, a = start.rsplit(":", 1)
    _, b = end.rsplit(":", 1)
    assert int(b) - int(a) == n - 1
    return [f"{prefix}:{int(a) + i}" for i in range(n)]


def test_spans_of_columnar_blocks_skip_whole_and_partly_committed_blocks() -> None:
    plan = UnitPlan("w", 0, "w:0:25")
    assert plan.span(10) is None  # rows 1-10: committed
    assert plan.span(10) is None  # 11-20
    assert plan.span(10) == (5, "w:0:26", "w:0:30")  # 21-30: from its 6th row
    assert plan.span(0) is None
    assert plan.span(3) == (0, "w:0:31", "w:0:33")
    assert (plan.rows_seen, plan.rows_sent) == (33, 8)
    assert plan.finish() == "w:0:33"
