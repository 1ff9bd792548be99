"""Which channel owns which record under `ingest --channels N` (pure), and the tokens that
carry N."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snowpipe_stream._protocol import parse_bulk_status
from snowpipe_stream.cli._identity import (
    Chain,
    InputId,
    Refusal,
    parse_token,
    resume_point,
)
from snowpipe_stream.cli._readers import Record
from snowpipe_stream.cli._shards import STRIPE, after, channel_names, family, owner, stripes


def block(first: int, count: int) -> Record:
    data = b"".join(b'{"n":%d}\n' % n for n in range(first, first + count))
    return Record(first, "f", first + 7, data, len(data), count=count)


def test_names_and_owners() -> None:
    assert channel_names("c", 1) == ["c"]
    assert channel_names("c", 3) == ["c-1", "c-2", "c-3"]
    assert family("c")[:3] == ["c", "c-1", "c-2"] and len(family("c")) == 65
    assert [owner(n, 3) for n in (1, STRIPE, STRIPE + 1, 3 * STRIPE, 3 * STRIPE + 1)] == [
        0,
        0,
        1,
        2,
        0,
    ]


@given(
    first=st.integers(1, 5 * STRIPE),
    count=st.integers(1, 3 * STRIPE),
    shards=st.integers(1, 5),
)
def test_a_block_is_cut_where_its_records_change_owner(first: int, count: int, shards: int) -> None:
    whole = block(first, count)
    parts = list(stripes(whole, shards))
    assert b"".join(p.row for _, p in parts) == whole.row  # type: ignore[misc]
    assert sum(p.size for _, p in parts) == whole.size
    n = first
    for k, part in parts:
        assert part.number == n and part.line == whole.line + (n - first)
        assert part.row.count(b"\n") == part.count  # type: ignore[union-attr]
        assert part.row.startswith(b'{"n":%d}' % n)  # type: ignore[union-attr]
        assert {owner(m, shards) for m in range(part.number, part.last + 1)} == {k}
        n = part.last + 1
    assert n == first + count
    if shards == 1:
        assert parts == [(0, whole)]


def test_after_keeps_the_records_past_a_number() -> None:
    rest = after(block(101, 50), 120)
    assert (rest.number, rest.count, rest.line) == (121, 30, 128)
    assert rest.row.startswith(b'{"n":121}') and rest.size == len(rest.row)  # type: ignore[union-attr]


def test_tokens_carry_the_number_of_channels() -> None:
    item = InputId("a.ndjson", "ab" * 32, None)
    one, three = Chain("ndjson").key(item), Chain("ndjson", shards=3).key(item)
    assert three == one + "/3"
    token = parse_token(three + ":1500")
    assert token is not None and (token.shards, token.base, token.record) == (3, one, 1500)
    plain = parse_token(one + ":7")
    assert plain is not None and plain.shards == 1 and plain.base == plain.key == one
    assert parse_token(one + "/1:7") is None  # one channel writes no /1
    assert parse_token(one + "/0:7") is None


def test_a_token_of_another_spread_is_refused_and_the_same_resumes() -> None:
    item = InputId("a.ndjson", "ab" * 32, None)
    committed = Chain("ndjson", shards=3).key(item) + ":2000"

    def identify(i: int, count: int | None) -> InputId:
        return item

    plan = resume_point("ndjson", ["a.ndjson"], identify, "c-1", committed, False, 3)
    assert (plan.start, plan.skip) == (0, 2000)
    for shards in (1, 2, 4):
        with pytest.raises(Refusal, match="from a run with --channels 3"):
            resume_point("ndjson", ["a.ndjson"], identify, "c-1", committed, False, shards)


def test_bulk_status_leaves_out_unknown_channels_when_asked() -> None:
    body = b'{"channel_statuses": {"c-2": {"channel_status_code": "SUCCESS"}}}'
    found = parse_bulk_status(body, ["c-1", "c-2"], missing_ok=True)
    assert list(found) == ["c-2"]
    with pytest.raises(Exception, match="'c-1' does not exist"):
        parse_bulk_status(body, ["c-1", "c-2"])
